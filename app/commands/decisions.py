"""``accord decisions replay INDEX``: re-decide a recorded disclosure or refusal.

The entry is decided again with the contract and consent state as of the ledger index it was
made at; the command prints the comparison as JSON and exits 0 when the recorded outcome
matches, 1 when it does not.
"""

from __future__ import annotations

import argparse

from sqlalchemy.exc import SQLAlchemyError

from app.cli import CommandError
from app.commands.contracts import print_json
from app.settings import Settings
from ledger import store
from ledger.entries import EntryError
from ledger.replay import ReplayError, replay


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("decisions", help="replay recorded decisions")
    commands = parser.add_subparsers(dest="decisions_command", metavar="ACTION")
    commands.required = True
    again = commands.add_parser(
        "replay", help="re-decide a disclosure, access.denied or break_glass entry"
    )
    again.add_argument("index", type=int, help="the entry's ledger index")
    again.add_argument(
        "--from-log",
        action="store_true",
        help="fold and re-verify the log itself instead of reading the index tables",
    )
    again.set_defaults(handler=replay_decision)


def replay_decision(args: argparse.Namespace, settings: Settings) -> int:
    try:
        engine = store.make_engine(settings.ledger_dsn)
        try:
            with engine.connect() as connection, connection.begin():
                store.check_schema(connection)
                report = replay(
                    connection, args.index, settings.contract_approvals_required, args.from_log
                )
        finally:
            engine.dispose()
    except (ReplayError, EntryError) as exc:
        raise CommandError(str(exc)) from None
    except (store.StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"cannot read the ledger at {settings.ledger_dsn}: {exc}") from None
    print_json(report.to_json())
    return 0 if report.match else 1
