"""End to end: the enforcing gateway over the four demo agencies, a SQLite ledger and real
tokens. Each test reads what the agencies were asked and what the ledger holds afterwards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson

from ledger import checkpoint, keys, merkle
from ledger.view import LogView
from tests.enforcement.world import NOTABLE, ORIGIN, gateway_claims, iter_governed

SUBSTANCE = NOTABLE["substance_use"]  # has a substance-use treatment record
CLEAN = NOTABLE["no_substance_use"]  # has diagnoses but no substance-use record

PROFILE = """query($id: ID!) {
  person(id: $id) { givenName diagnoses { code } substanceUseTreatment { program } }
}"""


def entity_queries(agencies, agency: str) -> list[tuple[str, list[dict]]]:
    return [
        (c.query, c.variables.get("representations", []))
        for c in agencies.calls(agency)
        if "_entities" in c.query
    ]


def without_receipt(body: dict) -> dict:
    """The response minus what differs between any two requests (ids and ledger indexes)."""
    body = orjson.loads(orjson.dumps(body))
    body.get("extensions", {}).pop("accord", None)
    if not body.get("extensions"):
        body.pop("extensions", None)
    return body


def test_two_people_in_one_query_get_the_fields_their_own_consents_allow(start, ledgered, agencies):
    ledgered.grant(SUBSTANCE, ("human_services",))  # everything, to human services
    ledgered.grant(  # identity only: health records are excluded
        CLEAN,
        ("human_services",),
        provisions=[{"categories": ["health"]}],
    )
    gateway = start()
    body = gateway.query(
        """query($a: ID!, $b: ID!) {
          a: person(id: $a) { givenName diagnoses { code } }
          b: person(id: $b) { givenName diagnoses { code } }
        }""",
        variables={"a": SUBSTANCE, "b": CLEAN},
    )
    a, b = body["data"]["a"], body["data"]["b"]
    assert a["givenName"] and a["diagnoses"]
    assert b["givenName"] and b["diagnoses"] is None
    (error,) = body["errors"]
    assert error["path"] == ["b", "diagnoses"]
    assert error["extensions"] == {
        "code": "CONSENT_REQUIRED",
        "category": "health.diagnosis",
        "rule": error["extensions"]["rule"],
        "reason": error["extensions"]["reason"],
    }
    assert error["extensions"]["rule"] and error["extensions"]["reason"]
    # Health was asked for diagnoses of the consenting person only.
    asked = entity_queries(agencies, "health")
    assert len(asked) == 1
    query, reps = asked[0]
    assert "diagnoses" in query and [r["id"] for r in reps] == [SUBSTANCE]


def test_a_revocation_committed_between_two_queries_changes_the_second_answer(
    start, ledgered, agencies
):
    granted = ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    first = gateway.query(PROFILE, variables={"id": CLEAN})
    assert first["data"]["person"]["diagnoses"]
    ledgered.revoke(granted, recorder="human_services")  # another writer, another process
    agencies.reset()
    second = gateway.query(PROFILE, variables={"id": CLEAN})
    assert second["data"]["person"] is None  # givenName is non-null: its parent goes
    codes = {e["path"][-1]: e["extensions"]["code"] for e in second["errors"]}
    assert codes == {"givenName": "CONSENT_REQUIRED", "diagnoses": "CONSENT_REQUIRED"}
    for agency in ("health", "human_services"):
        assert entity_queries(agencies, agency) == []  # nothing governed was even asked


def _metric(gateway, name: str) -> float:
    text = gateway.client.get(f"{gateway.server.url}/metrics").text
    (line,) = [row for row in text.splitlines() if row.startswith(name + " ")]
    return float(line.split()[1])


def _answered_from_memory(gateway) -> None:
    """The profile is released again with no new Cedar call, from decisions kept in memory."""
    calls = _metric(gateway, "accord_decision_cedar_calls")
    hits = _metric(gateway, "accord_decision_memo_hits")
    assert gateway.query(PROFILE, variables={"id": CLEAN})["data"]["person"]["diagnoses"]
    assert _metric(gateway, "accord_decision_cedar_calls") == calls
    assert _metric(gateway, "accord_decision_memo_hits") > hits


def test_disclosures_keep_decisions_memoised_and_a_consent_after_them_still_counts(
    start, ledgered, agencies
):
    granted = ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    for _ in range(3):  # each answer commits disclosures, which no decision depends on
        assert gateway.query(PROFILE, variables={"id": CLEAN})["data"]["person"]["diagnoses"]
    _answered_from_memory(gateway)
    # A revocation behind a run of disclosures is folded before the next decision.
    ledgered.revoke(granted, recorder="human_services")
    after = gateway.query(PROFILE, variables={"id": CLEAN})
    assert after["data"]["person"] is None
    assert {e["extensions"]["code"] for e in after["errors"]} == {"CONSENT_REQUIRED"}


def test_decisions_kept_between_requests_end_with_the_consent_period_they_rest_on(
    start, ledgered, agencies
):
    """The gateway keeps a person's decisions for the next request of the same asker and
    query while nothing they rest on changes; a consent period ending is such a change even
    though no entry marks it."""
    end = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    ledgered.grant(CLEAN, ("human_services",), end=end)
    gateway = start()
    assert gateway.query(PROFILE, variables={"id": CLEAN})["data"]["person"]["diagnoses"]
    _answered_from_memory(gateway)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.1)
    after = gateway.query(PROFILE, variables={"id": CLEAN})
    assert after["data"]["person"] is None
    assert {e["extensions"]["code"] for e in after["errors"]} == {"CONSENT_REQUIRED"}


def test_silent_denial_looks_exactly_like_having_no_record(start, ledgered, agencies):
    query = "query($id: ID!) { person(id: $id) { id substanceUseTreatment { program } } }"
    gateway = start()
    with_record = gateway.query(query, variables={"id": SUBSTANCE})
    without_record = gateway.query(query, variables={"id": CLEAN})
    assert with_record["data"]["person"]["substanceUseTreatment"] is None
    assert "errors" not in with_record
    expected = {"data": {"person": {"id": CLEAN, "substanceUseTreatment": None}}}
    assert without_receipt(without_record) == expected
    assert without_receipt(with_record) == {
        "data": {"person": {"id": SUBSTANCE, "substanceUseTreatment": None}}
    }
    assert len(with_record["extensions"]["accord"]["entries"]) == len(
        without_record["extensions"]["accord"]["entries"]
    )
    assert entity_queries(agencies, "health") == []  # the programme was never asked
    # The reason is on the ledger only.
    denied = list(iter_governed(ledgered.entries(), "access.denied"))
    assert {d["rule"] for d in denied} == {"part2.consent"}
    assert all(d["silent"] for d in denied)


def test_a_ledger_that_refuses_writes_releases_no_governed_data(start, ledgered, agencies):
    ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    before = len(ledgered.entries())
    refuse = (
        "CREATE TRIGGER refuse_writes BEFORE INSERT ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    ledgered.execute(refuse)
    try:
        body = gateway.query(PROFILE, variables={"id": CLEAN})
        assert body["data"]["person"] is None
        unavailable = [e for e in body["errors"] if e["extensions"]["code"] == "LEDGER_UNAVAILABLE"]
        assert {tuple(e["path"]) for e in unavailable} == {
            ("person", "givenName"),
            ("person", "diagnoses"),
            ("person", "substanceUseTreatment"),  # permitted (and empty) for this person
        }
        assert body["extensions"]["accord"]["entries"] == []
        assert "Quinn" not in str(body) and "code" not in str(body["data"])
        ready = gateway.client.get(f"{gateway.server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["ledger"]["writable"] is False
    finally:
        ledgered.execute("DROP TRIGGER refuse_writes")
    assert len(ledgered.entries()) == before  # nothing half-recorded
    again = gateway.query(PROFILE, variables={"id": CLEAN})
    assert again["data"]["person"]["diagnoses"]
    assert gateway.client.get(f"{gateway.server.url}/readyz").status_code == 200


def test_every_released_governed_field_has_a_durable_disclosure(start, ledgered, agencies):
    ledgered.grant(SUBSTANCE, ("human_services",))
    ledgered.grant(CLEAN, ("human_services",), provisions=[{"categories": ["health"]}])
    gateway = start()
    released: dict[tuple[str, str], set[str]] = {}  # (request, person) -> fields
    request_ids = []
    queries = [
        (PROFILE, {"id": SUBSTANCE}),
        (PROFILE, {"id": CLEAN}),
        # The first person of the list is CLEAN (P000000): consented, so the page is released.
        ("{ people(first: 1) { nodes { id givenName familyName benefits { program } } } }", {}),
        # Seen lately: the root field and the owner's _entities fetch share one call.
        ("query($id: ID!) { person(id: $id) { address { city } phone } }", {"id": CLEAN}),
        (PROFILE, {"id": SUBSTANCE}),
    ]
    for query, variables in queries:
        body = gateway.query(query, variables=variables)
        request_id = body["extensions"]["accord"]["requestId"]
        request_ids.append(request_id)
        for person in _people(body["data"]):
            fields = {k for k, v in person.items() if k != "id" and v is not None}
            key = (request_id, person.get("id") or variables["id"])
            released.setdefault(key, set()).update(fields)
    disclosures = list(iter_governed(ledgered.entries(), "disclosure"))
    assert {d["request_id"] for d in disclosures} <= set(request_ids)
    recorded: dict[tuple[str, str], set[str]] = {}
    for d in disclosures:
        fields = {f.split(".", 1)[1] for f in d["fields"]}
        recorded.setdefault((d["request_id"], d["subject"]), set()).update(fields)
    for (request_id, person), fields in released.items():
        assert fields, person
        assert fields <= recorded[(request_id, ledgered.pseudonym(person))], (request_id, person)
    by_person: dict[str, set[str]] = {}
    for (_, person), fields in released.items():
        by_person.setdefault(person, set()).update(fields)
    assert by_person[SUBSTANCE] >= {"givenName", "diagnoses", "substanceUseTreatment"}
    assert by_person[CLEAN] >= {"givenName", "familyName", "address", "phone"}


def _people(data: dict) -> list[dict]:
    found = []
    for value in (data or {}).values():
        if isinstance(value, dict) and "nodes" in value:
            found.extend(v for v in value["nodes"] if isinstance(v, dict))
        elif isinstance(value, dict):
            found.append(value)
    return found


def test_dry_run_releases_everything_and_records_what_would_have_been_withheld(
    start, ledgered, agencies
):
    gateway = start(dry_run=True)
    body = gateway.query(PROFILE, variables={"id": SUBSTANCE})
    person = body["data"]["person"]
    assert person["givenName"] and person["diagnoses"] and person["substanceUseTreatment"]
    assert "errors" not in body
    assert body["extensions"]["accord"]["dryRun"] is True
    entries = ledgered.entries()
    indexes = set(body["extensions"]["accord"]["entries"])
    mine = [e for i, e in entries if i in indexes]
    kinds = sorted(e["type"] for e in mine)
    assert kinds.count("disclosure") == 2  # health, human services
    assert kinds.count("access.denied") >= 2
    disclosed = {f for e in mine if e["type"] == "disclosure" for f in e["body"]["fields"]}
    assert {"Person.givenName", "Person.diagnoses", "Person.substanceUseTreatment"} <= disclosed
    assert all(
        any(o.startswith("accord-dry-run") for o in e["body"]["obligations"])
        for e in mine
        if e["type"] == "disclosure"
    )


def test_key_first_the_owner_is_only_asked_for_permitted_fields_with_a_token_naming_them(
    start, ledgered, agencies
):
    ledgered.grant(CLEAN, ("human_services",), provisions=[{"categories": ["health.diagnosis"]}])
    gateway = start()
    body = gateway.query(
        "query($id: ID!) { person(id: $id) { givenName diagnoses { code } medications { name } } }",
        variables={"id": CLEAN},
    )
    assert body["data"]["person"]["givenName"] and body["data"]["person"]["medications"]
    assert body["data"]["person"]["diagnoses"] is None
    request_id = body["extensions"]["accord"]["requestId"]
    (root,) = [c for c in agencies.calls("human_services") if "_entities" not in c.query]
    assert "givenName" not in root.query  # the root field fetched the key only
    for agency in ("human_services", "health"):
        for call in agencies.calls(agency):
            claims = gateway_claims(call, agency, agencies.gateway_public)
            assert claims.request_id == request_id and claims.purpose == "COC"
            assert claims.shared  # the request id rides in the header, checked above
            assert claims.agency == "human_services" and claims.user != "case-worker.human_services"
            selected = {
                f"Person.{name}"
                for name in ("givenName", "diagnoses", "medications")
                if name in call.query
            }
            assert set(claims.fields) == selected
    (health,) = agencies.calls("health")
    assert "medications" in health.query and "diagnoses" not in health.query
    # Seen lately, with a refusal at health: health is still asked once, and only for what
    # was permitted (a refusal keeps the preview from answering for it).
    agencies.reset()
    again = gateway.query(
        "query($id: ID!) { person(id: $id) { givenName diagnoses { code } medications { name } } }",
        variables={"id": CLEAN},
    )
    assert without_receipt(again) == without_receipt(body)
    (health,) = agencies.calls("health")
    assert "medications" in health.query and "diagnoses" not in health.query
    claims = gateway_claims(health, "health", agencies.gateway_public)
    assert claims.fields == ("Person.medications",)


def test_a_person_seen_lately_costs_the_owner_one_call_and_is_still_recorded(
    start, ledgered, agencies
):
    ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    query = "query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"
    first = gateway.query(query, variables={"id": CLEAN})  # first sight: key, then fields
    assert len(agencies.calls("human_services")) == 2
    agencies.reset()
    body = gateway.query(query, variables={"id": CLEAN})
    assert without_receipt(body) == without_receipt(first)
    # The key is the argument and the decision is known: the key-only root field and the
    # owner's _entities fetch share one call, which selects only what was permitted.
    (call,) = agencies.calls("human_services")
    assert "person(" in call.query and "_entities" in call.query
    assert call.variables["representations"] == [{"__typename": "Person", "id": CLEAN}]
    claims = gateway_claims(call, "human_services", agencies.gateway_public)
    assert claims.fields == ("Person.givenName",)
    # Health is asked once, for this person, with a token naming only the permitted field,
    # and the disclosure is recorded (below). That its call starts beside the shared one is
    # checked where it can be seen: tests/federation/test_follow_ups.py.
    (health,) = agencies.calls("health")
    assert health.variables["representations"] == [{"__typename": "Person", "id": CLEAN}]
    assert gateway_claims(health, "health", agencies.gateway_public).fields == ("Person.diagnoses",)
    indexes = set(body["extensions"]["accord"]["entries"])
    released = {
        e["body"]["provider"]: e["body"]["fields"]
        for i, e in ledgered.entries()
        if i in indexes and e["type"] == "disclosure"
    }
    assert released == {"human_services": ["Person.givenName"], "health": ["Person.diagnoses"]}


def test_a_person_with_a_refusal_from_the_owner_is_still_fetched_key_first(
    start, ledgered, agencies
):
    ledgered.grant(  # identity, but not the benefit records
        CLEAN, ("human_services",), provisions=[{"categories": ["human_services.benefits"]}]
    )
    gateway = start()
    query = "query($id: ID!) { person(id: $id) { givenName benefits { program } } }"
    for _ in range(2):  # the second time the person and the decisions are known
        agencies.reset()
        body = gateway.query(query, variables={"id": CLEAN})
        assert body["data"]["person"]["givenName"] and body["data"]["person"]["benefits"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"CONSENT_REQUIRED"}
        root = [c for c in agencies.calls("human_services") if "_entities" not in c.query]
        assert len(root) == 1 and "givenName" not in root[0].query
        ((asked, _),) = entity_queries(agencies, "human_services")
        assert "givenName" in asked and "benefits" not in asked


def test_obligations_travel_with_the_paths_they_apply_to(start, ledgered, agencies):
    ledgered.grant(SUBSTANCE, ("human_services",))
    gateway = start()
    body = gateway.query(
        """query($id: ID!) { one: person(id: $id) { substanceUseTreatment { program } }
             two: person(id: $id) { diagnoses { code } } }""",
        variables={"id": SUBSTANCE},
    )
    (obligation,) = body["extensions"]["accord"]["obligations"]
    assert obligation["obligation"].startswith("part2-redisclosure-notice")
    assert obligation["paths"] == [["one", "substanceUseTreatment"]]
    disclosure = next(
        e["body"]
        for i, e in ledgered.entries()
        if i in body["extensions"]["accord"]["entries"]
        and e["type"] == "disclosure"
        and e["body"]["provider"] == "health"
    )
    assert obligation["obligation"] in disclosure["obligations"]


def test_break_glass_needs_a_justification_and_is_recorded_for_review(start, ledgered, agencies):
    gateway = start()
    query = "query($id: ID!) { person(id: $id) { diagnoses { code } } }"
    refused = gateway.query(query, agency="health", purpose="ETREAT", variables={"id": CLEAN})
    assert refused["data"]["person"]["diagnoses"] is None
    assert refused["errors"][0]["extensions"]["rule"] == "break_glass.justification"
    body = gateway.query(
        query,
        agency="health",
        purpose="ETREAT",
        variables={"id": CLEAN},
        headers={"Accord-Justification": "unconscious patient in the emergency department"},
    )
    assert body["data"]["person"]["diagnoses"]
    indexes = set(body["extensions"]["accord"]["entries"])
    mine = {e["type"]: e["body"] for i, e in ledgered.entries() if i in indexes}
    assert mine["break_glass"]["justification"].startswith("unconscious patient")
    assert mine["break_glass"]["fields"] == ["Person.diagnoses"]
    assert mine["disclosure"]["fields"] == ["Person.diagnoses"]


def test_receipts_are_provable_against_the_signed_checkpoint(start, ledgered, agencies):
    ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    receipt = gateway.query(PROFILE, variables={"id": CLEAN})["extensions"]["accord"]
    assert receipt["entries"]
    log_key = ledgered.signer().verifier
    signed = checkpoint.open_checkpoint(receipt["checkpoint"], log_key, ORIGIN)
    with LogView(ledgered.url) as view:
        for index in receipt["entries"]:
            assert index < signed.size
            (data,) = view.entries(index, index + 1)
            size, proof = view.inclusion_proof(index, signed.size)
            merkle.verify_inclusion(index, size, merkle.leaf_hash(data), proof, signed.root)
            assert orjson.loads(data)["body"]["request_id"] == receipt["requestId"]
    assert isinstance(log_key, keys.Verifier)


def test_a_subgraph_answering_more_than_it_was_asked_has_the_extra_fields_dropped(
    start, ledgered, agencies, caplog
):
    ledgered.grant(CLEAN, ("human_services",), provisions=[{"categories": ["health"]}])

    def leak(body: dict) -> None:
        for entity in (body.get("data") or {}).get("_entities") or []:
            if isinstance(entity, dict):
                entity["diagnoses"] = [{"code": "LEAKED"}]
                entity["psychotherapyNotes"] = [{"note": "LEAKED"}]

    agencies.recordings["human_services"].tamper = leak
    try:
        gateway = start()
        with caplog.at_level("WARNING", logger="accord.enforcement"):
            body = gateway.query(PROFILE, variables={"id": CLEAN})
    finally:
        agencies.recordings["human_services"].tamper = None
    assert body["data"]["person"]["givenName"]
    assert body["data"]["person"]["diagnoses"] is None
    assert "LEAKED" not in orjson.dumps(body).decode()
    assert any(
        "not asked for" in r.getMessage() and "diagnoses" in r.getMessage() for r in caplog.records
    )
    metrics = gateway.client.get(f"{gateway.server.url}/metrics").text
    assert "accord_unasked_fields_dropped_total 2" in metrics


def test_consent_state_that_cannot_be_read_withholds_the_fetch(start, ledgered, agencies):
    stranger = NOTABLE["court_order"]  # never seen: a pseudonym secret must be created
    gateway = start()
    ledgered.execute(
        "CREATE TRIGGER refuse_secrets BEFORE INSERT ON subject_secrets "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    try:
        body = gateway.query(
            "query($id: ID!) { person(id: $id) { id courtCases { caseNumber } } }",
            variables={"id": stranger},
        )
    finally:
        ledgered.execute("DROP TRIGGER refuse_secrets")
    assert body["data"]["person"] == {"id": stranger, "courtCases": None}
    (error,) = body["errors"]
    assert error["path"] == ["person", "courtCases"]
    assert error["extensions"]["code"] == "LEDGER_UNAVAILABLE"
    assert not any("_entities" in c.query for c in agencies.calls("courts"))


def test_get_requests_are_enforced_too(start, ledgered, agencies):
    ledgered.grant(CLEAN, ("human_services",), provisions=[{"categories": ["health"]}])
    gateway = start()
    token = gateway.idp.case_worker_token("human_services", "COC")
    url = f"{gateway.server.url}/graphql"
    params = {"query": '{ person(id: "%s") { givenName diagnoses { code } } }' % CLEAN}  # noqa: UP031
    assert gateway.client.get(url, params=params).status_code == 401
    body = gateway.client.get(url, params=params, headers={"authorization": f"Bearer {token}"})
    assert body.status_code == 200
    answer = body.json()
    assert answer["data"]["person"]["givenName"] and answer["data"]["person"]["diagnoses"] is None
    assert answer["errors"][0]["extensions"]["code"] == "CONSENT_REQUIRED"
    assert answer["extensions"]["accord"]["entries"]


def test_representations_are_grouped_by_their_permitted_field_sets(start, ledgered, agencies):
    third = NOTABLE["minor"]  # diagnosed too
    fourth = NOTABLE["special_education"]
    ledgered.grant(SUBSTANCE, ("human_services",))  # everything
    ledgered.grant(fourth, ("human_services",))  # everything
    ledgered.grant(CLEAN, ("human_services",), provisions=[{"categories": ["health"]}])
    ledgered.grant(third, ("human_services",), provisions=[{"categories": ["health.diagnosis"]}])
    gateway = start()
    fields = "givenName diagnoses { code } medications { name }"
    body = gateway.query(
        f"""query($a: ID!, $b: ID!, $c: ID!, $d: ID!) {{
          a: person(id: $a) {{ {fields} }}  b: person(id: $b) {{ {fields} }}
          c: person(id: $c) {{ {fields} }}  d: person(id: $d) {{ {fields} }}
        }}""",
        variables={"a": SUBSTANCE, "b": CLEAN, "c": third, "d": fourth},
    )
    withheld = sorted((e["path"][0], e["path"][1]) for e in body["errors"])
    assert withheld == [("b", "diagnoses"), ("b", "medications"), ("c", "diagnoses")]
    (identity,) = entity_queries(agencies, "human_services")  # one group: all may see names
    assert len(identity[1]) == 4
    groups = {
        ("diagnoses" in query, "medications" in query): sorted(r["id"] for r in reps)
        for query, reps in entity_queries(agencies, "health")
    }
    assert groups == {  # one request per permitted field set; CLEAN's set is empty: no request
        (True, True): sorted([SUBSTANCE, fourth]),
        (False, True): [third],
    }
    # Each group's token lists exactly the fields its call selects.
    health = [c for c in agencies.calls("health") if "_entities" in c.query]
    tokens = {
        frozenset(gateway_claims(c, "health", agencies.gateway_public).fields): c.authorization
        for c in health
    }
    assert set(tokens) == {
        frozenset({"Person.diagnoses", "Person.medications"}),
        frozenset({"Person.medications"}),
    }
    assert len(set(tokens.values())) == 2


def test_history_tables_that_cannot_be_written_make_readyz_say_why(start, ledgered, agencies):
    ledgered.grant(CLEAN, ("human_services",))
    gateway = start()
    assert gateway.query(PROFILE, variables={"id": CLEAN})["data"]["person"]["diagnoses"]
    before = len(ledgered.entries())
    ledgered.execute("DROP TABLE history_tags")  # the index's tables changed behind its back
    # The next request's entries are durable in the log, so it is answered; their index rows
    # are written when the writer is next idle, which fails.
    released = gateway.query(PROFILE, variables={"id": CLEAN})
    assert released["data"]["person"]["diagnoses"]
    assert len(ledgered.entries()) > before
    before = len(ledgered.entries())
    # The index is behind: the next batch is indexed in its own transaction, and refused.
    body = gateway.query(PROFILE, variables={"id": CLEAN})
    assert body["data"]["person"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"LEDGER_UNAVAILABLE"}
    ready = gateway.client.get(f"{gateway.server.url}/readyz")
    assert ready.status_code == 503
    report = ready.json()["ledger"]
    assert report["writable"] is False
    assert "history index tables cannot be written" in report["reason"]
    assert len(ledgered.entries()) == before
    # Dropping the index altogether has it rebuilt from the log by the next batch.
    for table in ("history_events", "history_head", "history_layout"):
        ledgered.execute(f"DROP TABLE {table}")
    again = gateway.query(PROFILE, variables={"id": CLEAN})
    assert again["data"]["person"]["diagnoses"]
    assert gateway.client.get(f"{gateway.server.url}/readyz").status_code == 200
