"""Statements run on the driver's cursor (the append path's) behave like SQLAlchemy's own:
inside the connection's transaction, and failing with SQLAlchemy's error classes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from ledger import store


@pytest.fixture
def engine(ledger_url: str) -> Iterator[Engine]:
    """A writer engine on a new, empty store."""
    engine = store.make_engine(ledger_url, writer=True)
    try:
        with engine.begin() as connection:
            store.create_schema(connection)
        yield engine
    finally:
        engine.dispose()


def test_driver_statements_join_the_transaction_and_roll_back_with_it(engine: Engine) -> None:
    mark = store.placeholder(engine.dialect.paramstyle)
    move = f"UPDATE {store.head_table.name} SET size = {mark} WHERE id = 1"
    with pytest.raises(RuntimeError), engine.begin() as connection:
        store.run(connection, move, (7,))
        assert store.head_size(connection, lock=True) == 7  # seen inside the transaction
        raise RuntimeError("abandon the transaction")
    with engine.connect() as connection:
        assert store.head_size(connection) == 0  # and gone with it
    with engine.begin() as connection:
        assert store.run(connection, move, (3,)).rowcount == 1
    with engine.connect() as connection:
        assert store.head_size(connection) == 3


def test_driver_errors_are_raised_as_sqlalchemy_errors(engine: Engine) -> None:
    mark = store.placeholder(engine.dialect.paramstyle)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        store.run(
            connection, f"INSERT INTO {store.head_table.name} (id, size) VALUES (1, {mark})", (9,)
        )
    with (
        pytest.raises((OperationalError, ProgrammingError)) as raised,
        engine.begin() as connection,
    ):
        store.run(connection, "SELECT size FROM no_such_table")
    assert "no_such_table" in str(raised.value)
    with engine.connect() as connection:
        assert store.head_size(connection) == 0
