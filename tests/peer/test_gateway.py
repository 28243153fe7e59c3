"""Peers following the real gateway (the served app, its ledger and its own API): member
entries with real signatures are copied and checked, and the cosignatures the gateway takes
make its checkpoint final once the configured quorum signed."""

from __future__ import annotations

import asyncio

from app import peer
from app.demo_idp import DemoIdentityProvider
from app.federation.compose import accord_subgraph, compose
from app.identity import ensure_gateway_key
from app.settings import Witness
from ledger import checkpoint as notes
from ledger.view import LogView
from tests.enforcement.world import ORIGIN, Ledgered, start_gateway, stop
from tests.peer import world

QUERY = "{ accord { ledger { checkpoint { size final quorum cosignatures { witness } } } } }"


def test_peers_following_the_gateway_make_its_checkpoint_final(tmp_path):
    data = tmp_path / "gateway"
    ensure_gateway_key(data)
    DemoIdentityProvider(data).init()
    ledgered = Ledgered(data)
    ledgered.start_network()  # member admissions, a contract, approvals: signed entries
    health, education = world.witness("witness.health.test"), world.witness("witness.edu.test")
    gateway = start_gateway(
        data,
        compose([accord_subgraph()]),
        witnesses=[Witness(name=w.name, key=w.verifier.encode()) for w in (health, education)],
        cosignature_quorum=2,
    )
    try:
        url = gateway.server.url

        def checkpoint() -> dict:
            return gateway.client.post(
                f"{url}/accord/graphql",
                json={"query": QUERY},
                headers={"authorization": f"Bearer {gateway.idp.auditor_token()}"},
            ).json()["data"]["accord"]["ledger"]["checkpoint"]

        def follow(witness, name: str) -> tuple[int, list[str]]:
            cfg = peer.PeerConfig(
                log_url=url,
                origin=ORIGIN,
                log_key=ledgered.signer().verifier,
                witness=witness,
                store_url=f"sqlite:///{tmp_path / name / 'ledger.db'}",
                state_dir=tmp_path / name,
            )
            lines: list[str] = []
            return asyncio.run(peer.run(cfg, 1.0, True, lines.append)), lines

        size = len(ledgered.entries())
        assert size > 0
        assert checkpoint()["final"] is False

        code, lines = follow(health, "health")
        assert code == 0, lines
        assert checkpoint() == {
            "size": size,
            "final": False,
            "quorum": 2,
            "cosignatures": [{"witness": health.name}],
        }
        code, lines = follow(education, "education")
        assert code == 0, lines
        final = checkpoint()
        assert final["final"] is True and final["size"] == size
        assert sorted(c["witness"] for c in final["cosignatures"]) == sorted(
            [health.name, education.name]
        )
        with LogView(f"sqlite:///{tmp_path / 'health' / 'ledger.db'}") as copy:
            assert copy.entries(0) == [
                line.encode()
                for line in gateway.client.get(f"{url}/ledger/entries").text.splitlines()
            ]
        served = gateway.client.get(f"{url}/ledger/checkpoint").text
        assert len(notes.split_note(served)[1]) == 3  # the log's signature and two cosignatures
    finally:
        stop(gateway)
