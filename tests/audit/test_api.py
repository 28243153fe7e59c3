"""The gateway's own API per role, over a real gateway, agencies, ledger and tokens."""

from __future__ import annotations

import pytest

from ledger import checkpoint, merkle
from tests.enforcement.world import NOTABLE

CLEAN = NOTABLE["no_substance_use"]
OTHER = NOTABLE["substance_use"]
PROFILE = "query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"

DISCLOSURES = """query($filter: AccordHistoryFilter, $first: Int, $after: String) {
  accord { disclosures(filter: $filter, first: $first, after: $after) {
    totalCount nextCursor
    items { index subject time requester { agency { id name } } provider { id name }
            purpose { code } categories { name } basis { consents policies } fields }
  } }
}"""
DENIALS = """{ accord { denials { totalCount items { index subject code rule
  requester { agency { id } } provider { id } } } } }"""
ME = "{ accord { me { agency view subject roles } } }"


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture
def history(audit, ledgered):
    """Two people who consented to human services, three queries and a refusal."""
    ledgered.grant(CLEAN, ("human_services",))
    ledgered.grant(OTHER, ("human_services",))
    gateway = audit.gateway
    for person in (CLEAN, OTHER):
        body = gateway.query(PROFILE, variables={"id": person})
        assert body["data"]["person"]["diagnoses"], body
    refused = gateway.query(PROFILE, agency="courts", purpose="HLEGAL", variables={"id": CLEAN})
    assert "CONSENT_REQUIRED" in codes(refused) or "POLICY_DENIED" in codes(refused)
    return {"clean": ledgered.pseudonym(CLEAN), "other": ledgered.pseudonym(OTHER)}


def test_a_citizen_sees_only_entries_about_themselves_with_agency_names(audit, history):
    me = audit.api(f"citizen:{CLEAN}", ME)["data"]["accord"]["me"]
    assert me["view"] == "citizen" and me["subject"] == history["clean"]
    page = audit.api(f"citizen:{CLEAN}", DISCLOSURES)["data"]["accord"]["disclosures"]
    assert page["totalCount"] >= 1
    assert {item["subject"] for item in page["items"]} == {history["clean"]}
    health = [i for i in page["items"] if i["provider"]["id"] == "health"]
    assert health and health[0]["provider"]["name"] == "Health"  # the admitted member name
    assert health[0]["requester"]["agency"]["id"] == "human_services"
    assert health[0]["purpose"]["code"] == "COC"
    assert "Person.diagnoses" in health[0]["fields"]
    # Asking for someone else's entries is refused, not answered with an empty page.
    other = audit.api(f"citizen:{CLEAN}", DISCLOSURES, filter={"subject": history["other"]})
    assert codes(other) == ["FORBIDDEN"] and other["data"]["accord"]["disclosures"] is None
    denials = audit.api(f"citizen:{CLEAN}", DENIALS)["data"]["accord"]["denials"]
    assert denials["totalCount"] >= 1
    assert {d["subject"] for d in denials["items"]} == {history["clean"]}
    # The other person sees their own entries and none of the first person's.
    theirs = audit.api(f"citizen:{OTHER}", DISCLOSURES)["data"]["accord"]["disclosures"]
    assert theirs["items"] and {i["subject"] for i in theirs["items"]} == {history["other"]}
    assert audit.api(f"citizen:{OTHER}", DENIALS)["data"]["accord"]["denials"]["items"] == []


def test_an_agency_administrator_sees_only_what_their_agency_requested_or_provided(audit, history):
    everything = audit.api("auditor", DISCLOSURES, first=500)["data"]["accord"]["disclosures"]
    assert {i["subject"] for i in everything["items"]} >= {history["clean"], history["other"]}
    for agency in ("health", "human_services", "education", "courts"):
        body = audit.api(f"admin:{agency}", DISCLOSURES, first=500)
        items = body["data"]["accord"]["disclosures"]["items"]
        involved = [
            i
            for i in everything["items"]
            if agency in (i["provider"]["id"], i["requester"]["agency"]["id"])
        ]
        assert [i["index"] for i in items] == [i["index"] for i in involved]
        # Filtering on another agency cannot widen the view.
        other = audit.api(
            f"admin:{agency}", DISCLOSURES, filter={"requestingAgency": "human_services"}
        )["data"]["accord"]["disclosures"]["items"]
        assert all(agency in (i["provider"]["id"], i["requester"]["agency"]["id"]) for i in other)
    education = audit.api("admin:education", DISCLOSURES)["data"]["accord"]["disclosures"]
    assert education["items"] == [] and education["totalCount"] == 0
    courts = audit.api("admin:courts", DENIALS)["data"]["accord"]["denials"]["items"]
    assert courts and all(d["requester"]["agency"]["id"] == "courts" for d in courts)
    assert audit.api("admin:education", DENIALS)["data"]["accord"]["denials"]["items"] == []


def test_filters_and_cursor_pages(audit, history):
    all_items = audit.api("auditor", DISCLOSURES, first=500)["data"]["accord"]["disclosures"]
    indexes = [i["index"] for i in all_items["items"]]
    assert indexes == sorted(indexes, reverse=True) and len(indexes) >= 3
    seen, after = [], None
    while True:
        page = audit.api("auditor", DISCLOSURES, first=2, after=after)["data"]["accord"][
            "disclosures"
        ]
        seen += [i["index"] for i in page["items"]]
        after = page["nextCursor"]
        if after is None:
            break
    assert seen == indexes
    by_provider = audit.api("auditor", DISCLOSURES, filter={"providingAgency": "health"})
    items = by_provider["data"]["accord"]["disclosures"]["items"]
    assert items and all(i["provider"]["id"] == "health" for i in items)
    by_category = audit.api("auditor", DISCLOSURES, filter={"category": "health.diagnosis"})
    items = by_category["data"]["accord"]["disclosures"]["items"]
    assert items and all("health.diagnosis" in [c["name"] for c in i["categories"]] for i in items)
    consent_ids = {c for i in all_items["items"] for c in i["basis"]["consents"]}
    assert consent_ids
    one = sorted(consent_ids)[0]
    by_basis = audit.api("auditor", DISCLOSURES, filter={"basis": one})
    items = by_basis["data"]["accord"]["disclosures"]["items"]
    assert items and all(one in i["basis"]["consents"] for i in items)
    future = audit.api("auditor", DISCLOSURES, filter={"since": "2999-01-01"})
    assert future["data"]["accord"]["disclosures"]["items"] == []
    by_subject = audit.api("auditor", DISCLOSURES, filter={"subject": history["other"]})
    items = by_subject["data"]["accord"]["disclosures"]["items"]
    assert items and {i["subject"] for i in items} == {history["other"]}


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"first": 0}, "first"),
        ({"first": 100000}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"filter": {"since": "yesterday"}}, "since"),
        ({"filter": {"category": "health.everything"}}, "category"),
        ({"filter": {"purpose": "SHOPPING"}}, "purpose"),
    ],
)
def test_bad_filters_are_clear_errors(audit, history, variables, argument):
    body = audit.api("auditor", DISCLOSURES, **variables)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == argument
    assert body["data"]["accord"]["disclosures"] is None


def test_an_empty_time_range_is_refused(audit, history):
    body = audit.api("auditor", DISCLOSURES, filter={"since": "2026-02-01", "until": "2026-01-01"})
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "since" in body["errors"][0]["message"]


def test_roles_without_a_view_are_refused(audit, history):
    worker = audit.api("worker:human_services/COC", DISCLOSURES)
    assert codes(worker) == ["FORBIDDEN"]
    # The ledger's checkpoint is not history: every signed-in user may read it.
    checkpoint = audit.api(
        "worker:human_services/COC", "{ accord { ledger { checkpoint { size } } } }"
    )
    assert checkpoint["data"]["accord"]["ledger"]["checkpoint"]["size"] > 0
    anonymous = audit.gateway.client.post(
        f"{audit.url}/accord/graphql", json={"query": DISCLOSURES}
    ).json()
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    bad = audit.gateway.client.post(
        f"{audit.url}/accord/graphql",
        json={"query": DISCLOSURES},
        headers={"authorization": "Bearer not.a.token"},
    )
    assert bad.status_code == 401
    citizen_review = audit.api(
        f"citizen:{CLEAN}",
        'mutation { accord { reviewBreakGlass(entry: 1, outcome: JUSTIFIED, note: "x") '
        "{ index } } }",
    )
    assert codes(citizen_review) == ["FORBIDDEN"]


PROOFS = """query($index: Int!, $size: Int, $from: Int!, $to: Int) { accord { ledger {
  checkpoint { size rootHash note origin quorum final cosignatures { witness } }
  inclusionProof(index: $index, treeSize: $size) { index treeSize leafHash hashes rootHash }
  consistencyProof(from: $from, to: $to) { from to hashes oldRootHash newRootHash }
} } }"""


def test_ledger_proofs_verify_and_bad_indexes_are_clear_errors(audit, history, ledgered):
    first = audit.api(f"citizen:{CLEAN}", PROOFS, index=0, **{"from": 0})
    size = first["data"]["accord"]["ledger"]["checkpoint"]["size"]
    body = audit.api(f"citizen:{CLEAN}", PROOFS, index=size - 1, size=size, **{"from": 3})
    ledger = body["data"]["accord"]["ledger"]
    note = checkpoint.open_checkpoint(
        ledger["checkpoint"]["note"], ledgered.signer().verifier, ledger["checkpoint"]["origin"]
    )
    proof = ledger["inclusionProof"]
    root = merkle.root_from_inclusion_proof(
        size - 1,
        size,
        _unb64(proof["leafHash"]),
        [_unb64(h) for h in proof["hashes"]],
    )
    assert root == note.root == _unb64(proof["rootHash"])
    consistency = ledger["consistencyProof"]
    merkle.verify_consistency(
        3,
        size,
        _unb64(consistency["oldRootHash"]),
        note.root,
        [_unb64(h) for h in consistency["hashes"]],
    )
    beyond = audit.api("auditor", PROOFS, index=size + 5, **{"from": 0})
    assert "BAD_USER_INPUT" in codes(beyond)
    assert beyond["data"]["accord"]["ledger"]["inclusionProof"] is None
    assert beyond["data"]["accord"]["ledger"]["checkpoint"]["size"] == size
    too_big = audit.api("auditor", PROOFS, index=0, size=size + 1, **{"from": 0})
    assert "BAD_USER_INPUT" in codes(too_big)
    backwards = audit.api("auditor", PROOFS, index=0, **{"from": size, "to": 2})
    assert "BAD_USER_INPUT" in codes(backwards)


def _unb64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_the_api_composes_into_the_federated_endpoint(audit, history):
    """A citizen's token carries a purpose of use, so the supergraph's accord field answers."""
    body = audit.federated(f"citizen:{CLEAN}", "{ accord { me { view subject } } }")
    assert body["data"]["accord"]["me"] == {"view": "citizen", "subject": history["clean"]}
    page = audit.federated(f"citizen:{CLEAN}", DISCLOSURES)["data"]["accord"]["disclosures"]
    assert page["items"] and {i["subject"] for i in page["items"]} == {history["clean"]}
    other = audit.federated(f"citizen:{CLEAN}", DISCLOSURES, filter={"subject": history["other"]})
    assert codes(other) == ["FORBIDDEN"]


def test_a_gateway_serving_the_api_in_process_is_ready(audit):
    report = audit.gateway.client.get(f"{audit.url}/readyz")
    assert report.status_code == 200, report.text
    assert report.json()["subgraphs"]["local://accord"] is True


def test_auditors_use_the_accord_field_of_the_federated_api_without_a_purpose(audit, history):
    """Reading Accord's own API discloses nothing an agency holds, so it needs no purpose of
    use; the same token reaching an agency is refused for want of one."""
    direct = audit.api("auditor", DISCLOSURES, first=500)["data"]["accord"]["disclosures"]
    federated = audit.federated("auditor", DISCLOSURES, first=500)
    assert "errors" not in federated, federated
    assert federated["data"]["accord"]["disclosures"] == direct
    response = audit.gateway.client.post(
        f"{audit.url}/graphql",
        json={"query": PROFILE, "variables": {"id": CLEAN}},
        headers={"authorization": f"Bearer {audit.token('auditor')}"},
    )
    assert response.status_code == 403
    assert codes(response.json()) == ["FORBIDDEN"]
