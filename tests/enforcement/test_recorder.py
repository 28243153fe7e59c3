"""The request's ledger entries: disclosure bodies built from a template must be exactly the
bodies built from scratch, and must follow any change of the decisions behind them."""

from __future__ import annotations

from app.enforcement import recorder
from app.enforcement.context import Disclosed, RequestContext
from app.identity import Principal
from ledger.decisions import Decision, DecisionRequest, disclosure_body

PRINCIPAL = Principal(
    agency="human_services",
    user="case-worker",
    roles=frozenset({"case_worker"}),
    purposes=frozenset({"COC"}),
    purpose="COC",
    subject=None,
    issuer="https://idp.test",
)


def _request(category: str) -> DecisionRequest:
    return DecisionRequest(
        "human_services", "agency", "u" * 32, ("case_worker",), "COC", "ps-1", "health", category
    )


def _permit(consent: str, obligations: tuple[str, ...] = ()) -> Decision:
    return Decision(
        permit=True,
        code=None,
        rule="consent",
        reason="the person consented",
        basis={"consents": (consent,), "policies": ("hipaa-tpo",)},
        obligations=obligations,
        silent=False,
        break_glass=False,
        contract="c" * 64,
        ledger_index=41,
    )


def _context(request_id: str, decisions: list[Decision], decided_at: int) -> RequestContext:
    ctx = RequestContext(
        principal=PRINCIPAL,
        request_id=request_id,
        query_hash="q" * 64,
        user="u" * 32,
        requester_kind="agency",
        decided_at=decided_at,
    )
    record = Disclosed(_request("health.diagnosis"))
    record.fields.update({"Person.diagnoses": "health.diagnosis", "Person.allergies": "health"})
    record.decisions.extend(decisions)
    ctx.disclosed[("ps-1", "health")] = record
    return ctx


def _from_scratch(ctx: RequestContext) -> dict:
    (record,) = ctx.disclosed.values()
    return disclosure_body(
        record.request,
        record.decisions,
        sorted(set(record.fields.values())),
        fields=sorted(record.fields),
        request_id=ctx.request_id,
        query_hash=ctx.query_hash,
        decided_at=ctx.decided_at,
    )


def test_a_templated_disclosure_equals_one_built_from_scratch_for_every_request() -> None:
    decisions = [_permit("consent-1"), _permit("consent-2", ("notice",))]
    first, second = _context("r1", decisions, 1_000), _context("r2", decisions, 2_000)

    (one,) = recorder.request_entries(first)
    (two,) = recorder.request_entries(second)  # the same decisions: the template is reused

    assert one.type == two.type == "disclosure"
    assert one.body == _from_scratch(first)
    assert two.body == _from_scratch(second)
    assert (two.body["request_id"], two.body["decided_at"]) == ("r2", 2_000)
    assert one.body["request_id"] == "r1"  # the second request left the first body alone
    assert two.body["basis"] == {"consents": ["consent-1", "consent-2"], "policies": ["hipaa-tpo"]}
    assert one.checked_bytes() != two.checked_bytes()


def test_new_decisions_give_a_new_body() -> None:
    before = _context("r1", [_permit("consent-1")], 1_000)
    after = _context("r2", [_permit("consent-9", ("redisclosure notice",))], 2_000)

    (old,) = recorder.request_entries(before)
    (new,) = recorder.request_entries(after)

    assert old.body["basis"]["consents"] == ["consent-1"] and old.body["obligations"] == []
    assert new.body["basis"]["consents"] == ["consent-9"]
    assert new.body["obligations"] == ["redisclosure notice"]
    assert new.body == _from_scratch(after)
