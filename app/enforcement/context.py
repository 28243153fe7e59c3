"""What one request carries through the guard, the token signer and the recorder.

The executor runs fetches as tasks, which copy the context they were created in; a context
variable therefore reaches every hook call of the request without threading it through the
federation engine.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from app.federation.response import materialize
from app.identity import Principal
from ledger.decisions import Decision, DecisionRequest

JUSTIFICATION_HEADER = "Accord-Justification"
# A case or order reference (never personal data): the decision sees that an order is cited,
# the ledger records which one, and replay checks it.
COURT_ORDER_HEADER = "Accord-Court-Order"
COURT_ORDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./:#_()-]{0,127}")


def court_order(value: str | None) -> str | None:
    """The court order reference a request cites, or None; raises ValueError for a value that
    is not a plain reference (control characters, over 128 characters, or empty)."""
    if value is None:
        return None
    value = value.strip()
    if not COURT_ORDER.fullmatch(value):
        raise ValueError(
            f"{COURT_ORDER_HEADER} must be a case or order reference: 1 to 128 letters, digits, "
            "spaces and . / : # _ ( ) -, starting with a letter or digit"
        )
    return value


@functools.lru_cache(maxsize=4096)
def user_hash(agency: str, user: str) -> str:
    """How a user appears on the ledger and in gateway tokens: never the id itself."""
    return hashlib.sha256(f"{agency}\x00{user}".encode()).hexdigest()[:32]


@dataclass
class Disclosed:
    """Governed fields released about one subject by one providing agency."""

    request: DecisionRequest  # any of the permits' requests: requester, purpose, subject
    fields: dict[str, str] = field(default_factory=dict)  # coordinate -> category
    decisions: list[Decision] = field(default_factory=list)
    break_glass: dict[str, str] = field(default_factory=dict)  # coordinate -> category
    unpermitted: set[str] = field(default_factory=set)  # released by dry-run despite a denial
    # Where released values sit, kept unexpanded (expanded only if they must be nulled): the
    # response path chains of the objects, and the response keys of the released fields.
    sites: list[tuple[list[Any], tuple[str, ...]]] = field(default_factory=list)

    def value_paths(self) -> list[list[Any]]:
        """Every response path where a value released about this subject sits."""
        out = []
        for chains, keys in self.sites:
            for chain in chains:
                base = materialize(chain)
                out.extend(base + [key] for key in keys)
        return out


@dataclass
class Refused:
    """One refusal: a decision that withheld fields about one subject from one agency."""

    request: DecisionRequest
    decision: Decision
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestContext:
    principal: Principal
    request_id: str
    query_hash: str
    user: str
    requester_kind: str
    justification: str | None = None
    court_order: str | None = None
    fetches: tuple = ()
    decided_at: int = 0  # ms; every decision of the request is made as of this instant
    pseudonyms: dict[str, str] = field(default_factory=dict)
    decisions: dict[tuple[str, str, str], Decision] = field(default_factory=dict)
    # (subject, the plan's (provider, category) pairs) whose decisions are all made
    covered: set[tuple[str, frozenset]] = field(default_factory=set)
    requests: dict[tuple[str, str, str], DecisionRequest] = field(default_factory=dict)
    disclosed: dict[tuple[str, str], Disclosed] = field(default_factory=dict)
    refused: dict[tuple[str, str, str, str], Refused] = field(default_factory=dict)
    obligations: dict[str, list[list[Any]]] = field(default_factory=dict)
    failed_paths: list[list[Any]] = field(default_factory=list)
    decision_calls: int = 0


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "accord_request", default=None
)
