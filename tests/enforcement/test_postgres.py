"""The enforcing gateway with its ledger on PostgreSQL: same behaviour as on SQLite."""

from __future__ import annotations

import concurrent.futures

from tests.enforcement.world import NOTABLE, Ledgered, iter_governed, start_gateway, stop

PROFILE = "query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"


def test_postgres_ledger_records_concurrent_requests_and_sees_revocations(
    data_dir, agencies, postgres_url
):
    ledgered = Ledgered(data_dir, dsn=postgres_url)
    ledgered.start_network()
    people = [NOTABLE["adult"], NOTABLE["substance_use"], NOTABLE["minor"]]  # all diagnosed
    grants = {p: ledgered.grant(p, ("human_services",)) for p in people}
    gateway = start_gateway(data_dir, agencies.supergraph, ledger_url=postgres_url)
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bodies = list(
                pool.map(
                    lambda n: gateway.query(PROFILE, variables={"id": people[n % 3]}),
                    range(24),
                )
            )
        receipts = [b["extensions"]["accord"] for b in bodies]
        indexes = [i for r in receipts for i in r["entries"]]
        assert all(b["data"]["person"]["diagnoses"] for b in bodies)
        assert len(indexes) == len(set(indexes)) == 24 * 2  # human services + health each
        entries = dict(ledgered.entries())
        for receipt in receipts:
            for index in receipt["entries"]:
                assert entries[index]["body"]["request_id"] == receipt["requestId"]
        disclosed = list(iter_governed(entries.items(), "disclosure"))
        assert len(disclosed) == 48

        ledgered.revoke(grants[people[0]], recorder="human_services")
        after = gateway.query(PROFILE, variables={"id": people[0]})
        assert after["data"]["person"] is None
        assert {e["extensions"]["code"] for e in after["errors"]} == {"CONSENT_REQUIRED"}
        still = gateway.query(PROFILE, variables={"id": people[1]})
        assert still["data"]["person"]["diagnoses"]
    finally:
        stop(gateway)
