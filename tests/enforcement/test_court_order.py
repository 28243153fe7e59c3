"""Court orders: a sealed juvenile record is released only to a request citing one in the
``Accord-Court-Order`` header; the reference is recorded on the disclosure and replays."""

from __future__ import annotations

from ledger import replay, store
from tests.enforcement.world import NOTABLE, iter_governed

SEALED = NOTABLE["sealed_juvenile"]
RECORDS = """query($id: ID!) {
  person(id: $id) { juvenileRecords { caseNumber sealed } }
}"""
ORDER = "Case 2031-JV-0042 / Order 7"


def _replay(ledgered, index: int) -> replay.ReplayReport:
    engine = store.make_engine(ledgered.url)
    try:
        with engine.connect() as connection, connection.begin():
            return replay.replay(connection, index)
    finally:
        engine.dispose()


def test_a_sealed_juvenile_record_needs_a_court_order(start, ledgered, agencies):
    gateway = start()
    pseudonym = ledgered.pseudonym(SEALED)

    withheld = gateway.query(RECORDS, agency="courts", purpose="HLEGAL", variables={"id": SEALED})
    assert withheld["data"]["person"]["juvenileRecords"] is None
    (error,) = withheld["errors"]
    assert error["path"] == ["person", "juvenileRecords"]
    assert error["extensions"]["category"] == "court.juvenile"
    assert error["extensions"]["rule"] == "juvenile.sealed"
    # Withheld data never left the agency: no call asked it for the records.
    assert not any("juvenileRecords" in c.query for c in agencies.calls("courts"))
    entries = ledgered.entries()
    (denied,) = [d for d in iter_governed(entries, "access.denied") if d["subject"] == pseudonym]
    assert denied["court_order"] == ""
    assert not [d for d in iter_governed(entries, "disclosure") if d["subject"] == pseudonym]

    released = gateway.query(
        RECORDS,
        agency="courts",
        purpose="HLEGAL",
        variables={"id": SEALED},
        headers={"Accord-Court-Order": ORDER},
    )
    assert "errors" not in released
    records = released["data"]["person"]["juvenileRecords"]
    assert records and any(r["sealed"] for r in records)
    indexes = released["extensions"]["accord"]["entries"]
    by_index = dict(ledgered.entries())
    (disclosure,) = [by_index[i]["body"] for i in indexes if by_index[i]["type"] == "disclosure"]
    assert disclosure["subject"] == pseudonym
    assert disclosure["court_order"] == ORDER
    assert disclosure["fields"] == ["Person.juvenileRecords"]
    assert "juvenile.court_order" in disclosure["basis"]["policies"]
    (at,) = [i for i in indexes if by_index[i]["type"] == "disclosure"]
    report = _replay(ledgered, at)
    assert report.match, report.differences
    assert all(d["permit"] for d in report.replayed)


def test_a_court_order_header_that_is_not_a_reference_is_refused(start, ledgered, agencies):
    gateway = start()
    before = len(ledgered.entries())
    for bad in ("", "x" * 129, "-leading dash", "Jane Doe <jane@example.org>"):
        response = gateway.post(
            RECORDS,
            agency="courts",
            purpose="HLEGAL",
            variables={"id": SEALED},
            headers={"Accord-Court-Order": bad},
        )
        body = response.json()
        assert "data" not in body or body["data"] is None, bad
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "Accord-Court-Order must be a case or order reference" in error["message"]
    assert len(ledgered.entries()) == before
