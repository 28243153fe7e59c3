"""The ledger entries one request leaves: a ``disclosure`` per (subject, providing agency)
released, an ``access.denied`` per refusal, a ``break_glass`` where an emergency rule permitted.

Bodies name pseudonyms, field coordinates and categories, never values.
"""

from __future__ import annotations

from app.enforcement.context import RequestContext
from ledger.decisions import (
    DRY_RUN_OBLIGATION,
    Decision,
    break_glass_body,
    denial_body,
    disclosure_body,
)
from ledger.entries import Entry, operator_entry


def request_entries(ctx: RequestContext) -> list[Entry]:
    entries: list[Entry] = []
    common = {
        "request_id": ctx.request_id,
        "query_hash": ctx.query_hash,
        "decided_at": ctx.decided_at,
    }
    for record in ctx.disclosed.values():
        coordinates = sorted(record.fields)
        categories = sorted(set(record.fields.values()))
        decisions = record.decisions
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


class _Empty:
    """A stand-in decision with no basis, for a dry-run disclosure nothing permitted."""

    basis = {"consents": (), "policies": ()}
    obligations = ()

    def __init__(self, refusal: Decision) -> None:
        self.contract = refusal.contract
        self.ledger_index = refusal.ledger_index
