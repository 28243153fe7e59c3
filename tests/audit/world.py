"""Entries an audited network produces: disclosures, refusals and emergency accesses."""

from __future__ import annotations

import itertools
from typing import Any

from ledger.entries import Entry, new_entry

_ids = itertools.count(1)
DAY = 86_400_000
T0 = 1_780_000_000_000  # a fixed instant, so day buckets are predictable


def _common(subject: str, requester: str, provider: str, purpose: str, categories, ts) -> dict:
    return {
        "request_id": f"req-{next(_ids)}",
        "requester": {"agency": requester, "user": "u-" + requester},
        "purpose": purpose,
        "subject": subject,
        "provider": provider,
        "fields": ["Person.name"],
        "categories": list(categories),
        "contract": "c" * 64,
        "decided_at": ts,
        "query_hash": "q" * 16,
    }


def disclosure(
    subject: str,
    requester: str = "health",
    provider: str = "education",
    purpose: str = "COC",
    categories: tuple[str, ...] = ("identity.basic",),
    consents: tuple[str, ...] = (),
    policies: tuple[str, ...] = ("treatment",),
    ts: int = T0,
) -> Entry:
    body: dict[str, Any] = _common(subject, requester, provider, purpose, categories, ts)
    body["basis"] = {"consents": list(consents), "policies": list(policies)}
    body["obligations"] = []
    return new_entry("disclosure", body, ts=ts)


def denial(
    subject: str,
    requester: str = "courts",
    provider: str = "health",
    purpose: str = "HLEGAL",
    categories: tuple[str, ...] = ("health.mental",),
    ts: int = T0,
) -> Entry:
    body = _common(subject, requester, provider, purpose, categories, ts)
    body.update(code="CONSENT_REQUIRED", rule="consent-required", reason="no consent", silent=False)
    return new_entry("access.denied", body, ts=ts)


def break_glass(
    subject: str, requester: str = "health", provider: str = "human_services", ts: int = T0
) -> Entry:
    body = _common(subject, requester, provider, "ETREAT", ("identity.basic",), ts)
    body["justification"] = "unconscious patient in the emergency room"
    return new_entry("break_glass", body, ts=ts)


def review(index: int, outcome: str = "justified", reviewer: str = "oversight:alice") -> Entry:
    body = {"entry": index, "reviewer": reviewer, "outcome": outcome, "note": "checked"}
    return new_entry("break_glass.reviewed", body)
