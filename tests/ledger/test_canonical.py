"""Canonical JSON: one spelling per value, and strict refusal of anything else."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import CanonicalError, decode, encode

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_encoding_round_trips(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8), st.integers(-1000, 1000), min_size=2, max_size=6
    )
)
def test_any_other_spelling_is_refused(value: dict[str, int]) -> None:
    data = encode(value)
    spaced = json.dumps(value, sort_keys=True).encode()  # ", " and ": " separators
    with pytest.raises(CanonicalError):
        decode(spaced)
    unsorted = json.dumps(dict(reversed(list(value.items()))), separators=(",", ":")).encode()
    if unsorted != data:
        with pytest.raises(CanonicalError):
            decode(unsorted)


def test_output_is_sorted_compact_utf8() -> None:
    assert encode({"b": 1, "a": [True, None, "é\n"]}) == '{"a":[true,null,"é\\n"],"b":1}'.encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1,"a":2}', "duplicate object key 'a'"),
        (b'{"b":1,"a":2}', "not sorted"),
        (b'{"a":1.5}', "floats are not allowed"),
        (b'{"a":1e3}', "floats are not allowed"),
        (b'{"a":NaN}', "not valid JSON"),
        (b'{"a": 1}', "not in canonical form"),
        (b'"\\u00e9"', "not in canonical form"),
        (b"\xff", "not valid JSON"),
        (b'{"a":1}\n', "not in canonical form"),
    ],
)
def test_non_canonical_input_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CanonicalError, match=reason):
        decode(data)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": 1.0}, "floats are not allowed"),
        ({"a": float("nan")}, "floats are not allowed"),
        ({1: "a"}, "not a string"),
        ({"a": 2**64}, "64-bit"),
        ({"a": {1, 2}}, "no canonical JSON form"),
        ({"a": b"bytes"}, "no canonical JSON form"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object, reason: str) -> None:
    with pytest.raises(CanonicalError, match=reason):
        encode(value)


@settings(max_examples=200, deadline=None)
@given(json_values, st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_a_float_anywhere_is_refused(value: object, number: float, in_list: bool) -> None:
    document = [value, [number]] if in_list else {"a": value, "z": {"f": number}}
    with pytest.raises(CanonicalError, match="float"):
        decode(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=2**63, max_value=2**64 - 1))
def test_integers_beyond_63_bits_are_refused(number: int) -> None:
    with pytest.raises(CanonicalError, match="64-bit"):
        decode(b'{"n":' + str(number).encode() + b"}")
