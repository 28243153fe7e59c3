"""Canonical JSON: the one byte form of a ledger entry.

Every peer must hash exactly the same bytes for the same entry, so the encoding admits one
spelling per value: object keys sorted, no insignificant whitespace, UTF-8 without escaping
beyond what JSON requires, and integers only (a float has several decimal spellings and
platform-dependent rounding). Decoding is strict: input that is not what :func:`encode` would
have produced for the decoded value is refused, which also refuses duplicate keys.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Integers outside the signed 64-bit range do not survive every JSON implementation a peer
# might use, so they are refused rather than silently rounded elsewhere.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class CanonicalError(ValueError):
    """A value or a byte string that has no canonical JSON form."""


def encode(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (dicts with str keys, lists, str, int, bool, None)."""
    _check(value, "$")
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # pragma: no cover - _check already refused what orjson would
        raise CanonicalError(str(exc)) from None


def encode_checked(value: Any) -> bytes:
    """:func:`encode` for values a strict schema has already checked (no floats, no
    non-string keys, 64-bit integers): the append path's fast lane."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def decode(data: bytes) -> Any:
    """Parse canonical JSON, refusing anything :func:`encode` would not have produced."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CanonicalError(f"canonical JSON must be bytes, not {type(data).__name__}")
    data = bytes(data)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CanonicalError(f"not valid JSON: {exc}") from None
    if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != data:
        raise CanonicalError(_why_not_canonical(data))
    # Same bytes again, so only a float or an integer beyond 63 bits can still be wrong.
    _check(value, "$")
    return value


def _check(value: Any, path: str) -> None:
    """Refuse values without a canonical form; the fast walk names nothing, the slow one does."""
    if not _acceptable(value):
        _explain(value, path)


_SCALARS = frozenset({str, bool, type(None)})


def _acceptable(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is int:
        return INT_MIN <= value <= INT_MAX
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if kind is str or kind is bool:
                continue
            if not _acceptable(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(type(item) is str or _acceptable(item) for item in value)
    return False


def _explain(value: Any, path: str) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise CanonicalError(f"{path}: integer {value} is outside the signed 64-bit range")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise CanonicalError(f"{path}: object key {key!r} is not a string")
            _explain(item, f"{path}.{key}")
        return
    if kind is list or kind is tuple:
        for number, item in enumerate(value):
            _explain(item, f"{path}[{number}]")
        return
    if kind is float:
        raise CanonicalError(f"{path}: floats are not allowed (got {value!r}); use integers")
    raise CanonicalError(f"{path}: {kind.__name__} has no canonical JSON form")


def _why_not_canonical(data: bytes) -> str:
    """Name the first rule the input breaks (slow path, only for refusals)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        for key in keys:
            if keys.count(key) > 1:
                raise CanonicalError(f"duplicate object key {key!r}")
        if keys != sorted(keys):
            raise CanonicalError(f"object keys are not sorted: {keys}")
        return dict(items)

    def no_float(text: str) -> Any:
        raise CanonicalError(f"floats are not allowed (got {text})")

    try:
        json.loads(data, object_pairs_hook=pairs, parse_float=no_float)
    except CanonicalError as exc:
        return str(exc)
    except ValueError:
        pass
    return "not in canonical form (whitespace, escaping or number spelling differs)"
