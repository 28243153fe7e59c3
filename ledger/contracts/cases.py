"""Contract test tables: example requests with the outcome the contract must give.

A table is a JSON list of cases. Each case names the requester, purpose, category and the
consent facts (the same inputs a live decision has) and the expected outcome, so a governance
board can check a proposed contract before approving it, without any ledger at all::

    {"name": "treatment between providers",
     "request": {"agency": "health", "kind": "health_provider", "provider": "health",
                 "category": "health.diagnosis", "purpose": "TREAT"},
     "expect": {"permit": true, "rule": "hipaa.tpo"}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ledger.contracts.model import Contract, ContractError, Facts, Shape
from ledger.vocabulary import AGENCY_KINDS, CATEGORIES, PURPOSES

_REQUEST_KEYS = {
    "agency",
    "kind",
    "roles",
    "provider",
    "provider_kind",
    "category",
    "purpose",
    "justified",
    "court_order",
    "consent",
}
_EXPECT_KEYS = {"permit", "rule", "code", "silent", "break_glass", "obligations"}
_FACT_KEYS = set(Facts._fields)


@dataclass
class CaseResult:
    name: str
    passed: bool
    expected: dict[str, Any]
    actual: dict[str, Any]


def load_cases(path: Path) -> list[dict[str, Any]]:
    try:
        cases = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ContractError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"{path} is not JSON: {exc}") from None
    if not isinstance(cases, list) or not cases:
        raise ContractError(f"{path} must hold a non-empty JSON list of cases")
    return cases


def shape_of(case: dict[str, Any], where: str) -> Shape:
    request = case.get("request")
    if not isinstance(request, dict):
        raise ContractError(f"{where}: needs a request object")
    unknown = set(request) - _REQUEST_KEYS
    if unknown:
        raise ContractError(f"{where}: unknown request fields {sorted(unknown)}")
    for key in ("agency", "category", "purpose"):
        if not isinstance(request.get(key), str):
            raise ContractError(f"{where}: request.{key} is required")
    if request["category"] not in CATEGORIES:
        raise ContractError(f"{where}: unknown data category {request['category']!r}")
    if request["purpose"] not in PURPOSES:
        raise ContractError(f"{where}: unknown purpose of use {request['purpose']!r}")
    facts = request.get("consent", {})
    if not isinstance(facts, dict) or set(facts) - _FACT_KEYS:
        raise ContractError(f"{where}: request.consent may hold only {sorted(_FACT_KEYS)}")
    provider = request.get("provider", request["agency"])
    return Shape(
        agency=request["agency"],
        kind=request.get("kind", AGENCY_KINDS.get(request["agency"], "")),
        roles=tuple(sorted(request.get("roles", ()))),
        provider=provider,
        provider_kind=request.get("provider_kind", AGENCY_KINDS.get(provider, "")),
        category=request["category"],
        purpose=request["purpose"],
        justified=bool(request.get("justified", False)),
        court_order=bool(request.get("court_order", False)),
        facts=Facts(**{**facts, "grantors": tuple(sorted(facts.get("grantors", ())))}),
    )


def run_cases(contract: Contract, cases: list[dict[str, Any]]) -> list[CaseResult]:
    """Decide every case with ``contract`` and compare with its expectations."""
    shapes, expectations = [], []
    for number, case in enumerate(cases):
        where = f"case {number} ({case.get('name', 'unnamed')})" if isinstance(case, dict) else ""
        if not isinstance(case, dict):
            raise ContractError(f"case {number} is not an object")
        expect = case.get("expect")
        if not isinstance(expect, dict) or "permit" not in expect or set(expect) - _EXPECT_KEYS:
            raise ContractError(f"{where}: expect needs 'permit' and only {sorted(_EXPECT_KEYS)}")
        shapes.append(shape_of(case, where))
        expectations.append(expect)
    results = []
    for case, expect, verdict in zip(cases, expectations, contract.evaluate(shapes), strict=True):
        actual = {
            "permit": verdict.permit,
            "rule": verdict.rule,
            "code": verdict.code,
            "silent": verdict.silent,
            "break_glass": verdict.break_glass,
            "obligations": list(verdict.obligations),
        }
        passed = all(actual[key] == value for key, value in expect.items())
        results.append(CaseResult(case.get("name", ""), passed, expect, actual))
    return results
