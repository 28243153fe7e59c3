"""The API, exports and read path with the gateway's ledger on PostgreSQL."""

from __future__ import annotations

import base64
import hashlib

from ledger import checkpoint as notes
from ledger import history, keys, store
from tests.audit.conftest import RECORDER, Audit
from tests.enforcement.world import NOTABLE, Ledgered, start_gateway, stop

PERSON = NOTABLE["no_substance_use"]
OTHER = NOTABLE["substance_use"]
PROFILE = "query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"
PAGE = """{ accord { disclosures { totalCount items { index subject provider { id }
  requester { agency { id } } } } } }"""


def test_history_api_and_read_path_on_postgres(data_dir, agencies, postgres_url):
    ledgered = Ledgered(data_dir, dsn=postgres_url)
    ledgered.start_network()
    keys.save(ledgered.network.signers[RECORDER], data_dir / "keys" / "members", RECORDER)
    ledgered.grant(OTHER, ("human_services",))
    gateway = start_gateway(
        data_dir, agencies.supergraph, ledger_url=postgres_url, consent_recorder=RECORDER
    )
    try:
        audit = Audit(gateway)
        granted = audit.api(
            f"citizen:{PERSON}",
            'mutation { accord { grantConsent(input: {grantees: ["human_services"]}) { id } } }',
        )["data"]["accord"]["grantConsent"]
        for person in (PERSON, OTHER):
            assert gateway.query(PROFILE, variables={"id": person})["data"]["person"]["diagnoses"]
        mine = audit.api(f"citizen:{PERSON}", PAGE)["data"]["accord"]["disclosures"]
        own = ledgered.pseudonym(PERSON)
        assert mine["totalCount"] == 2 and {i["subject"] for i in mine["items"]} == {own}
        everyone = audit.api("auditor", PAGE)["data"]["accord"]["disclosures"]
        assert everyone["totalCount"] == 4
        education = audit.api("admin:education", PAGE)["data"]["accord"]["disclosures"]
        assert education["items"] == []
        health = audit.api("admin:health", PAGE)["data"]["accord"]["disclosures"]["items"]
        assert len(health) == 2 and all(i["provider"]["id"] == "health" for i in health)

        revoked = audit.api(
            f"citizen:{PERSON}",
            "mutation($id: String!) { accord { revokeConsent(consentId: $id) { status } } }",
            id=granted["id"],
        )
        assert revoked["data"]["accord"]["revokeConsent"]["status"] == "revoked"
        withheld = gateway.query(PROFILE, variables={"id": PERSON})
        assert {e["extensions"]["code"] for e in withheld["errors"]} == {"CONSENT_REQUIRED"}

        csv = gateway.client.get(
            f"{audit.url}/accord/accounting.csv",
            headers={"authorization": f"Bearer {audit.token(f'citizen:{PERSON}')}"},
        )
        assert csv.status_code == 200 and csv.text.count("\r\n") == 3  # header and two rows

        note = gateway.client.get(f"{audit.url}/ledger/checkpoint").text
        checkpoint = notes.open_checkpoint(note, ledgered.signer().verifier)
        tile = gateway.client.get(f"{audit.url}/ledger/tile/0/000.p/{checkpoint.size}")
        bundle = gateway.client.get(f"{audit.url}/ledger/tile/entries/000.p/{checkpoint.size}")
        assert tile.status_code == bundle.status_code == 200
        entries, at = [], 0
        while at < len(bundle.content):
            length = int.from_bytes(bundle.content[at : at + 2], "big")
            entries.append(bundle.content[at + 2 : at + 2 + length])
            at += 2 + length
        leaves = [hashlib.sha256(b"\x00" + e).digest() for e in entries]
        assert b"".join(leaves) == tile.content
        proof = gateway.client.get(
            f"{audit.url}/ledger/proof/inclusion",
            params={"index": checkpoint.size - 1, "size": checkpoint.size},
        ).json()
        assert base64.b64decode(proof["leaf_hash"]) == leaves[-1]
    finally:
        stop(gateway)

    engine = store.make_engine(postgres_url)
    try:
        with engine.connect() as connection, connection.begin():
            live = history.snapshot(connection)
            history.rebuild(connection)
            assert history.snapshot(connection) == live
    finally:
        engine.dispose()
