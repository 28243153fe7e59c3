"""Sample entries shaped like the ones the gateway and member agencies write."""

from __future__ import annotations

from ledger import keys
from ledger.entries import Entry, new_entry, sign_entry


def disclosure(number: int = 0, subject: str = "ab" * 32) -> Entry:
    return new_entry(
        "disclosure",
        {
            "request_id": f"req-{number}",
            "requester": {"agency": "health", "user": "c0ffee" * 5},
            "purpose": "TREAT",
            "subject": subject,
            "provider": "education",
            "fields": ["attendance", "enrolledSince"],
            "categories": ["education.attendance"],
            "basis": {"consents": ["consent-1"], "policies": []},
            "contract": "ee" * 32,
            "decided_at": 1_700_000_000_000 + number,
            "query_hash": "dd" * 32,
            "obligations": [],
        },
        ts=1_700_000_000_000 + number,
    )


def denial(number: int = 0) -> Entry:
    return new_entry(
        "access.denied",
        {
            "request_id": f"req-{number}",
            "requester": {"agency": "courts", "user": "beef" * 8},
            "purpose": "HLEGAL",
            "subject": "ab" * 32,
            "provider": "health",
            "fields": ["diagnoses"],
            "categories": ["health.diagnosis"],
            "code": "CONSENT_REQUIRED",
            "rule": "consent-required-default",
            "reason": "no consent covers health.diagnosis for courts",
            "silent": False,
            "contract": "ee" * 32,
            "decided_at": 1_700_000_000_000,
            "query_hash": "dd" * 32,
        },
    )


def admission(member: str, key: keys.Signer, kind: str = "health_provider") -> Entry:
    body = {"member": member, "name": member.title(), "kind": kind, "key": keys.public_b64(key)}
    return sign_entry(new_entry("member.admitted", body, author=member), key)


def consent(member: str, key: keys.Signer, number: int = 0, subject: str = "ab" * 32) -> Entry:
    body = {"consent_id": f"consent-{number}", "subject": subject, "jws": "e30.e30.sig"}
    return sign_entry(new_entry("consent.granted", body, author=member), key)
