"""The ledger entries one request leaves: a ``disclosure`` per (subject, providing agency)
released, an ``access.denied`` per refusal, a ``break_glass`` where an emergency rule permitted.

Bodies name pseudonyms, field coordinates and categories, never values.
"""

from __future__ import annotations

from typing import Any

from app.enforcement.context import Disclosed, RequestContext
from ledger.decisions import (
    DRY_RUN_OBLIGATION,
    Decision,
    break_glass_body,
    denial_body,
    disclosure_body,
)
from ledger.entries import Entry, operator_entry

# A disclosure's body depends on the request only through its id, query hash and instant once
# its decisions are known, and a person's decisions are the very same objects from request to
# request while they are kept (see Guard._decide). The rest of the body is therefore built
# once per (decision request, decisions, fields) and copied. Keys name decisions by id(): the
# memo holds the decisions themselves, so no id in it can be reused by another object.
# Templates share their nested lists and dicts with every body copied from them; nothing
# changes an entry's body once it is built.
BODY_MEMO = 10_000
_bodies: dict[tuple, tuple[list[Decision], dict[str, Any]]] = {}


def request_entries(ctx: RequestContext) -> list[Entry]:
    entries: list[Entry] = []
    common = {
        "request_id": ctx.request_id,
        "query_hash": ctx.query_hash,
        "decided_at": ctx.decided_at,
    }
    for record in ctx.disclosed.values():
        decisions = record.decisions
        if decisions and not record.unpermitted and not record.break_glass:
            entries.append(operator_entry("disclosure", _disclosure(record, common)))
            continue
        coordinates = sorted(record.fields)
        categories = sorted(set(record.fields.values()))
        if decisions:
            body = disclosure_body(
                record.request, decisions, categories, fields=coordinates, **common
            )
        else:
            refusal = next(
                d
                for (s, p, _), d in ctx.decisions.items()
                if (s, p) == (record.request.subject, record.request.provider)
            )
            body = disclosure_body(
                record.request, [_Empty(refusal)], categories, fields=coordinates, **common
            )
        if record.unpermitted:
            body["obligations"] = sorted({*body["obligations"], DRY_RUN_OBLIGATION})
        entries.append(operator_entry("disclosure", body))
        if record.break_glass:
            glass = [d for d in decisions if d.break_glass]
            entries.append(
                operator_entry(
                    "break_glass",
                    break_glass_body(
                        record.request,
                        glass,
                        sorted(set(record.break_glass.values())),
                        fields=sorted(record.break_glass),
                        **common,
                    ),
                )
            )
    for refusal in ctx.refused.values():
        body = denial_body(
            refusal.request,
            refusal.decision,
            sorted(set(refusal.fields.values())),
            fields=sorted(refusal.fields),
            **common,
        )
        entries.append(operator_entry("access.denied", body))
    return entries


def _disclosure(record: Disclosed, common: dict[str, Any]) -> dict[str, Any]:
    """The body of the usual disclosure (permitted outright), from its template."""
    key = (record.request, tuple(map(id, record.decisions)), tuple(record.fields.items()))
    found = _bodies.get(key)
    if found is None:
        template = disclosure_body(
            record.request,
            record.decisions,
            sorted(set(record.fields.values())),
            fields=sorted(record.fields),
            **common,
        )
        if len(_bodies) >= BODY_MEMO:
            _bodies.clear()
        found = _bodies[key] = (list(record.decisions), template)
    return {**found[1], **common}


class _Empty:
    """A stand-in decision with no basis, for a dry-run disclosure nothing permitted."""

    basis = {"consents": (), "policies": ()}
    obligations = ()

    def __init__(self, refusal: Decision) -> None:
        self.contract = refusal.contract
        self.ledger_index = refusal.ledger_index
