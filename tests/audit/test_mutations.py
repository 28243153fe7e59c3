"""Recording through the API: break-glass reviews, consents given and withdrawn by the person,
replay of recorded decisions, and the contracts view."""

from __future__ import annotations

import orjson

from tests.audit.test_api import CLEAN, OTHER, PROFILE, codes

REVIEW = """mutation($entry: Int!, $outcome: AccordReviewOutcome!, $note: String!) { accord {
  reviewBreakGlass(entry: $entry, outcome: $outcome, note: $note) {
    index justification review { index outcome reviewer note } } } }"""
QUEUE = """query($pending: Boolean) { accord { breakGlassReview(pending: $pending) {
  totalCount items { index review { outcome } } } } }"""


def emergency(audit) -> int:
    body = audit.gateway.query(
        "query($id: ID!) { person(id: $id) { diagnoses { code } } }",
        agency="health",
        purpose="ETREAT",
        variables={"id": CLEAN},
        headers={"Accord-Justification": "unconscious patient in the emergency department"},
    )
    assert body["data"]["person"]["diagnoses"], body
    entries = body["extensions"]["accord"]["entries"]
    queue = audit.api("auditor", QUEUE)["data"]["accord"]["breakGlassReview"]["items"]
    (index,) = [i["index"] for i in queue if i["index"] in entries]
    return index


def test_an_auditor_records_one_review_per_emergency_access(audit, ledgered):
    index = emergency(audit)
    size = len(ledgered.entries())
    assert audit.api("admin:health", QUEUE)["data"]["accord"]["breakGlassReview"]["totalCount"]
    assert codes(audit.api("admin:health", REVIEW, entry=index, outcome="JUSTIFIED", note="")) == [
        "FORBIDDEN"
    ]
    reviewed = audit.api("auditor", REVIEW, entry=index, outcome="UNJUSTIFIED", note="no chart")
    result = reviewed["data"]["accord"]["reviewBreakGlass"]
    assert result["index"] == index and result["review"]["outcome"] == "unjustified"
    assert result["review"]["reviewer"].startswith("oversight:")
    entries = ledgered.entries()
    assert len(entries) == size + 1
    last = entries[-1][1]
    assert last["type"] == "break_glass.reviewed" and last["body"]["entry"] == index
    assert audit.api("auditor", QUEUE)["data"]["accord"]["breakGlassReview"]["items"] == []
    done = audit.api("auditor", QUEUE, pending=False)["data"]["accord"]["breakGlassReview"]
    assert [i["review"]["outcome"] for i in done["items"]] == ["unjustified"]
    # A second review, or a review of something that is not an emergency access, is refused
    # and records nothing.
    again = audit.api("auditor", REVIEW, entry=index, outcome="JUSTIFIED", note="")
    assert codes(again) == ["BAD_USER_INPUT"]
    assert "already reviewed" in again["errors"][0]["message"]
    wrong = audit.api("auditor", REVIEW, entry=0, outcome="JUSTIFIED", note="")
    assert codes(wrong) == ["BAD_USER_INPUT"]
    beyond = audit.api("auditor", REVIEW, entry=10_000, outcome="JUSTIFIED", note="")
    assert codes(beyond) == ["BAD_USER_INPUT"]
    assert len(ledgered.entries()) == size + 1


CONSENTS = """{ accord { consents { id status grantees { id } categories
  history { index action } } } }"""
GRANT = """mutation($input: AccordConsentInput!) { accord { grantConsent(input: $input) {
  id status grantees { id name } categories } } }"""
REVOKE = """mutation($id: String!) { accord { revokeConsent(consentId: $id) {
  id status history { action } } } }"""


def test_a_person_gives_and_withdraws_consent_and_the_gateway_follows(audit, ledgered):
    first = audit.gateway.query(PROFILE, variables={"id": CLEAN})
    assert first["data"]["person"] is None  # no consent yet
    granted = audit.api(
        f"citizen:{CLEAN}", GRANT, input={"grantees": ["human_services"], "days": 30}
    )["data"]["accord"]["grantConsent"]
    assert granted["status"] == "active"
    assert granted["grantees"] == [{"id": "human_services", "name": "Human_Services"}]
    second = audit.gateway.query(PROFILE, variables={"id": CLEAN})
    assert second["data"]["person"]["diagnoses"]
    # Another person cannot withdraw it, nor see it.
    stolen = audit.api(f"citizen:{OTHER}", REVOKE, id=granted["id"])
    assert codes(stolen) == ["BAD_USER_INPUT"]
    assert audit.api(f"citizen:{OTHER}", CONSENTS)["data"]["accord"]["consents"] == []
    revoked = audit.api(f"citizen:{CLEAN}", REVOKE, id=granted["id"])["data"]["accord"][
        "revokeConsent"
    ]
    assert revoked["status"] == "revoked"
    assert [h["action"] for h in revoked["history"]] == ["granted", "revoked"]
    third = audit.gateway.query(PROFILE, variables={"id": CLEAN})
    assert "CONSENT_REQUIRED" in codes(third)
    twice = audit.api(f"citizen:{CLEAN}", REVOKE, id=granted["id"])
    assert codes(twice) == ["BAD_USER_INPUT"] and "already revoked" in twice["errors"][0]["message"]
    # The auditor sees the history by pseudonym; the agency administrator is not a party here.
    pseudonym = ledgered.pseudonym(CLEAN)
    seen = audit.api(
        "auditor",
        "query($s: String) { accord { consents(subject: $s) { id status } } }",
        s=pseudonym,
    )["data"]["accord"]["consents"]
    assert seen == [{"id": granted["id"], "status": "revoked"}]


def test_bad_consents_are_refused_and_record_nothing(audit, ledgered):
    size = len(ledgered.entries())
    for bad in (
        {"grantees": []},
        {"grantees": ["human_services"], "days": 0},
        {"grantees": ["human_services"], "categories": ["health.everything"]},
        {"grantees": ["no such agency!"]},
    ):
        body = audit.api(f"citizen:{CLEAN}", GRANT, input=bad)
        assert codes(body) == ["BAD_USER_INPUT"], (bad, body)
    assert codes(audit.api("auditor", GRANT, input={"grantees": ["health"]})) == ["FORBIDDEN"]
    assert len(ledgered.entries()) == size


def test_replay_and_contracts(audit, ledgered):
    ledgered.grant(CLEAN, ("human_services",))
    receipt = audit.gateway.query(PROFILE, variables={"id": CLEAN})["extensions"]["accord"]
    index = receipt["entries"][0]
    replay = audit.api(
        "auditor",
        "query($i: Int!) { accord { replayDecision(index: $i) { index type match differences "
        "recordedJson } } }",
        i=index,
    )["data"]["accord"]["replayDecision"]
    assert replay["match"] is True and replay["differences"] == []
    assert orjson.loads(replay["recordedJson"])["request_id"] == receipt["requestId"]
    assert codes(audit.api("auditor", "{ accord { replayDecision(index: 0) { match } } }")) == [
        "BAD_USER_INPUT"
    ]
    assert codes(audit.api("auditor", "{ accord { replayDecision(index: 99999) { match } } }")) == [
        "BAD_USER_INPUT"
    ]
    assert codes(
        audit.api(
            "admin:education",
            "query($i: Int!) { accord { replayDecision(index: $i) { match } } }",
            i=index,
        )
    ) == ["FORBIDDEN"]
    contracts = audit.api(
        "worker:human_services/COC",
        "{ accord { contracts { name version hash active approvals { member } policies } } }",
    )["data"]["accord"]["contracts"]
    (active,) = [c for c in contracts if c["active"]]
    assert {a["member"] for a in active["approvals"]} == {"health", "education"}
    assert "permit" in active["policies"]


def test_activity_counts_per_day(audit, ledgered):
    ledgered.grant(CLEAN, ("human_services",))
    audit.gateway.query(PROFILE, variables={"id": CLEAN})
    audit.gateway.query(PROFILE, agency="courts", purpose="HLEGAL", variables={"id": CLEAN})
    days = audit.api("auditor", "{ accord { activity { day disclosures denials } } }")
    (today,) = days["data"]["accord"]["activity"]
    total = audit.api("auditor", "{ accord { disclosures { totalCount } denials { totalCount } } }")
    counts = total["data"]["accord"]
    assert today["disclosures"] == counts["disclosures"]["totalCount"] > 0
    assert today["denials"] == counts["denials"]["totalCount"] > 0


def test_mutations_also_run_through_the_federated_endpoint(audit, ledgered):
    granted = audit.federated(
        f"citizen:{CLEAN}", GRANT, input={"grantees": ["human_services"], "days": 10}
    )
    consent = granted["data"]["accord"]["grantConsent"]
    assert consent["status"] == "active"
    body = audit.gateway.query(PROFILE, variables={"id": CLEAN})
    assert body["data"]["person"]["diagnoses"]
    other = audit.federated(f"citizen:{OTHER}", REVOKE, id=consent["id"])
    assert codes(other) == ["BAD_USER_INPUT"]
    revoked = audit.federated(f"citizen:{CLEAN}", REVOKE, id=consent["id"])
    assert revoked["data"]["accord"]["revokeConsent"]["status"] == "revoked"
