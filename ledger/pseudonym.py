"""Subject pseudonyms and crypto-shredding.

The ledger never names a person. A subject appears as ``HMAC-SHA256(secret, subject_id)`` where
``secret`` is 32 random bytes kept for that subject in the ``subject_secrets`` table, outside the
log. Whoever holds the secret can find a person's entries; nobody else can, not even by
guessing identifiers. Erasing the secret (a right-to-erasure request) unlinks every entry about
the person for good, while the entries, the tree and every proof stay exactly as they were.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as random
import threading
import time
from collections import OrderedDict

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ledger import store

SECRET_BYTES = 32


class PseudonymError(ValueError):
    """A subject id that cannot be pseudonymised (empty or too long)."""


def pseudonym(subject_id: str, secret: bytes) -> str:
    """The subject's pseudonym under ``secret``: HMAC-SHA256, lowercase hex."""
    _check(subject_id)
    return hmac.new(secret, subject_id.encode(), hashlib.sha256).hexdigest()


def secret_for(connection: Connection, subject_id: str) -> bytes:
    """The subject's secret, created on first use (concurrent creators agree on one)."""
    _check(subject_id)
    table = store.secrets_table
    found = connection.execute(
        select(table.c.secret).where(table.c.subject_id == subject_id)
    ).scalar_one_or_none()
    if found is not None:
        return bytes(found)
    dialect = postgresql if store.is_postgres(connection) else sqlite
    connection.execute(
        dialect.insert(table)
        .values(subject_id=subject_id, secret=random.token_bytes(SECRET_BYTES))
        .on_conflict_do_nothing(index_elements=[table.c.subject_id])
    )
    return bytes(
        connection.execute(
            select(table.c.secret).where(table.c.subject_id == subject_id)
        ).scalar_one()
    )


def erase(connection: Connection, subject_id: str) -> bool:
    """Forget the subject's secret; True if there was one."""
    _check(subject_id)
    table = store.secrets_table
    result = connection.execute(delete(table).where(table.c.subject_id == subject_id))
    return bool(result.rowcount)


class SecretStore:
    """Pseudonyms backed by the secrets table, with a small per-process cache.

    Cached secrets live at most ``ttl`` seconds, so an erasure made by another process stops
    being used here within that time; an erasure made through this object applies at once.
    """

    def __init__(self, engine: Engine, ttl: float = 60.0, capacity: int = 100_000) -> None:
        self.engine = engine
        self.ttl = ttl
        self.capacity = capacity
        self._cache: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()  # called from worker threads

    def secret_for(self, subject_id: str) -> bytes:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(subject_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.engine.begin() as connection:
            secret = secret_for(connection, subject_id)
        with self._lock:
            self._cache[subject_id] = (secret, now + self.ttl)
            self._cache.move_to_end(subject_id)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return secret

    def pseudonym(self, subject_id: str) -> str:
        return pseudonym(subject_id, self.secret_for(subject_id))

    def erase(self, subject_id: str) -> bool:
        with self.engine.begin() as connection:
            erased = erase(connection, subject_id)
        with self._lock:
            self._cache.pop(subject_id, None)
        return erased


def _check(subject_id: str) -> None:
    if not isinstance(subject_id, str) or not subject_id or len(subject_id) > 255:
        raise PseudonymError("a subject id is a non-empty string of at most 255 characters")
