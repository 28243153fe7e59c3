"""A peer following a real log over HTTP: copies and verifies every entry, cosigns, and its
cosignatures are taken by the log and count toward the quorum."""

from __future__ import annotations

import pytest

from app import peer
from ledger import checkpoint as notes
from ledger import keys
from ledger.verify import verify_store
from ledger.view import LogView
from tests.peer import world

pytestmark = pytest.mark.anyio


async def test_peer_copies_verifies_and_cosigns_toward_the_quorum(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health, education = world.witness("witness.health.test"), world.witness("witness.edu.test")
    quorum = 2
    admitted, _ = world.members()
    async with world.serve_log(
        tmp_path / "log.db", signer, [health.verifier, education.verifier]
    ) as log:
        await log.ledger.append_all(admitted)
        for start in range(0, 1200, 400):
            await log.ledger.append_all(world.entries(start, 400))
        size = log.ledger.size
        first = world.config(tmp_path, log, signer.verifier, health, "health")

        outcome = await world.follow(first)

        assert (outcome.size, outcome.fetched, outcome.cosigned, outcome.accepted) == (
            size,
            size,
            True,
            1,
        )
        with LogView(first.store_url) as copy, LogView(f"sqlite:///{log.db}") as original:
            assert copy.entries(0) == original.entries(0)
            assert copy.root() == original.root()
        # The copy is an ordinary ledger store, verifiable on its own (signed by the copy key).
        copy_key = keys.load_signer(first.state_dir / "copy.key").verifier
        assert verify_store(first.store_url, copy_key, origin=world.ORIGIN).entries == size
        assert await log.ledger.cosignatures(size) == [health.name]
        assert len(await log.ledger.cosignatures(size)) < quorum  # not final yet

        second = world.config(tmp_path, log, signer.verifier, education, "education")
        await world.follow(second)

        served = await log.ledger.checkpoint()
        cosigners = peer.cosigners(served, [health.verifier, education.verifier])
        assert sorted(cosigners) == sorted([health.name, education.name])
        assert len(cosigners) >= quorum  # final
        assert notes.open_checkpoint(served, signer.verifier).size == size
        # What each peer kept is the log's checkpoint with its own valid cosignature.
        kept = (first.state_dir / peer.COSIGNED_NOTE).read_text()
        assert peer.cosigners(kept, [health.verifier]) == (health.name,)
        assert notes.split_note(kept)[0] == notes.split_note(served)[0]


async def test_later_rounds_fetch_only_new_entries_and_cosign_each_new_checkpoint(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 600))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        assert (await world.follow(cfg)).fetched == 600
        log.seen.clear()

        await log.ledger.append_all(world.entries(600, 300))
        await log.ledger.append_all(world.entries(900, 50))
        outcome = await world.follow(cfg)  # a restart: new copy handle, new client

        assert (outcome.size, outcome.fetched, outcome.cosigned) == (950, 350, True)
        starts = [int(q.split("start=")[1].split("&")[0]) for q in log.requests("/ledger/entries")]
        assert starts and min(starts) == 600
        # The proof from the last cosigned checkpoint was asked for.
        assert "from=600&to=950" in log.requests("/ledger/proof/consistency")
        assert await log.ledger.cosignatures(600) == [health.name]
        assert await log.ledger.cosignatures(950) == [health.name]
        log.seen.clear()

        again = await world.follow(cfg)

        assert (again.size, again.fetched, again.cosigned) == (950, 0, False)
        assert log.requests("/ledger/cosign", "POST") == []
        assert log.requests("/ledger/entries") == []


async def test_a_cosignature_the_log_lost_is_handed_back_not_signed_again(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, []) as log:
        await log.ledger.append_all(world.entries(0, 10))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        # The log does not know this witness yet: it refuses the cosignature.
        with pytest.raises(peer.PeerError, match="did not take the cosignature"):
            await world.follow(cfg)
        kept = (cfg.state_dir / peer.COSIGNED_NOTE).read_text()
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        cfg = world.config(tmp_path, log, signer.verifier, health)  # same state, new port
        outcome = await world.follow(cfg)

        assert (outcome.cosigned, outcome.accepted, outcome.fetched) == (True, 1, 0)
        assert (cfg.state_dir / peer.COSIGNED_NOTE).read_text() == kept
        assert kept.endswith((await log.ledger.checkpoint()).splitlines()[-1] + "\n")


async def test_run_once_reports_and_a_running_peer_follows_growth(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    lines: list[str] = []
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 30))
        cfg = world.config(tmp_path, log, signer.verifier, health)

        assert await peer.run(cfg, 0.01, True, lines.append) == 0
        await log.ledger.append_all(world.entries(30, 5))
        assert await peer.run(cfg, 0.01, False, lines.append, rounds=2) == 0

    assert lines[0] == "size 30: 30 new entries verified and copied; cosigned (log took 1)"
    assert lines[1] == "size 35: 5 new entries verified and copied; cosigned (log took 1)"
    assert lines[2] == "size 35: 0 new entries verified and copied; already cosigned"


async def test_a_copy_on_postgresql(tmp_path, postgres_url):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    admitted, _ = world.members()
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(admitted + world.entries(0, 300))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        cfg = peer.PeerConfig(**{**cfg.__dict__, "store_url": postgres_url})

        outcome = await world.follow(cfg)

        assert outcome.cosigned and outcome.size == 304
        with LogView(postgres_url) as copy:
            assert copy.root() == await log.ledger.root()


async def test_a_second_peer_on_the_same_state_directory_is_refused(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 5))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        async with peer.open_copy(cfg):
            with pytest.raises(peer.PeerError, match="another peer is running"):
                await world.follow(cfg)
        assert (await world.follow(cfg)).cosigned  # free again once the first one stopped


async def test_cosignature_times_never_go_back(tmp_path, monkeypatch):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 5))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        await world.follow(cfg)
        body, lines = notes.split_note((cfg.state_dir / peer.COSIGNED_NOTE).read_text())
        first = notes.verify_cosignature(body, lines[-1], health.verifier)
        monkeypatch.setattr(peer.time, "time", lambda: 1_000_000.0)  # the clock stepped back
        await log.ledger.append_all(world.entries(5, 5))
        await world.follow(cfg)
        body, lines = notes.split_note((cfg.state_dir / peer.COSIGNED_NOTE).read_text())
        assert notes.verify_cosignature(body, lines[-1], health.verifier) == first
