"""A peer refuses, cosigns nothing and keeps the evidence when the log misbehaves: a row
rewritten in the log's database, a replaced or forged checkpoint, a split view (two logs with
the same key and origin showing different histories), a rollback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app import peer
from ledger import checkpoint as notes
from ledger import keys
from ledger.view import LogView
from tests.peer import world

pytestmark = pytest.mark.anyio


def evidence(cfg: peer.PeerConfig) -> list[Path]:
    return sorted((cfg.state_dir / peer.EVIDENCE_DIR).glob("*"))


def copy_size(cfg: peer.PeerConfig) -> int:
    with LogView(cfg.store_url) as copy:
        return copy.size


@pytest.mark.parametrize("verify_every", [5000, 40])
async def test_a_row_rewritten_in_the_logs_database_is_refused(tmp_path, monkeypatch, verify_every):
    monkeypatch.setattr(peer, "VERIFY_EVERY", verify_every)
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 100))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        await world.follow(cfg)
        trusted = (cfg.state_dir / peer.COSIGNED_NOTE).read_text()
        await log.ledger.append_all(world.entries(100, 200))
        log.edit_row(150, b'"req-150"', b'"req-999"')

        with pytest.raises(peer.Refusal, match="root mismatch") as refused:
            await world.follow(cfg)

        assert await log.ledger.cosignatures(300) == []
        assert log.requests("/ledger/cosign", "POST") == [""]  # only the first round's
        assert copy_size(cfg) <= 140  # nothing at or after the edited entry was stored
        assert (cfg.state_dir / peer.COSIGNED_NOTE).read_text() == trusted
        (kept,) = evidence(cfg)
        assert refused.value.evidence == kept
        assert (kept / "offered.note").read_text() == await log.ledger.checkpoint()
        assert (kept / "trusted.note").read_text() == trusted
        assert "root mismatch" in (kept / "reason.txt").read_text()

        # Put the row back: the same peer now verifies, copies and cosigns.
        log.edit_row(150, b'"req-999"', b'"req-150"')
        outcome = await world.follow(cfg)
        assert outcome.cosigned and await log.ledger.cosignatures(300) == [health.name]
        with LogView(cfg.store_url) as copy:
            assert copy.root() == await log.ledger.root()


async def test_a_running_peer_keeps_refusing_and_keeps_one_copy_of_the_evidence(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    lines: list[str] = []
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 20))
        log.edit_row(3, b'"req-3"', b'"req-7"')
        cfg = world.config(tmp_path, log, signer.verifier, health)

        assert await peer.run(cfg, 0.01, False, lines.append, rounds=3) == 3
        assert await peer.run(cfg, 0.01, True, lines.append) == 3

        assert len(lines) == 4 and all(line.startswith("refused: root mismatch") for line in lines)
        assert len(evidence(cfg)) == 1
        assert not (cfg.state_dir / peer.COSIGNED_NOTE).exists()
        assert await log.ledger.cosignatures(20) == []
        assert copy_size(cfg) == 0


@pytest.mark.parametrize("how", ["stranger key, same name", "log's signature, other body"])
async def test_a_replaced_checkpoint_is_refused(tmp_path, how):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 50))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        await world.follow(cfg)
        await log.ledger.append_all(world.entries(50, 10))
        await log.ledger.append_all(world.entries(60, 10))
        genuine = await log.ledger.checkpoint()
        fake_root = await log.ledger.root(60)
        if how == "stranger key, same name":
            forged = notes.signed_note(
                notes.Checkpoint(world.ORIGIN, 70, fake_root), keys.generate(world.ORIGIN)
            )
            expected = "not signed by the log key"
        else:
            body, signatures = notes.split_note(genuine)
            fake = notes.Checkpoint(world.ORIGIN, 70, fake_root).body()
            forged = fake + "\n" + signatures[0].line()
            expected = "does not verify"
        log.replace_checkpoint(70, forged)

        with pytest.raises(peer.Refusal, match=expected):
            await world.follow(cfg)

        assert await log.ledger.cosignatures(70) == []
        assert copy_size(cfg) == 50
        (kept,) = evidence(cfg)
        assert (kept / "offered.note").read_text() == forged
        assert (
            notes.open_checkpoint((kept / "trusted.note").read_text(), signer.verifier).size == 50
        )


async def test_a_split_view_is_refused_and_compare_names_it(tmp_path):
    """Two logs under the same key and origin share 5 entries, then differ."""
    signer = keys.generate(world.ORIGIN)
    one, two = world.witness("witness.one.test"), world.witness("witness.two.test")
    witnesses = [one.verifier, two.verifier]
    shared = world.entries(0, 5)
    async with (
        world.serve_log(tmp_path / "a.db", signer, witnesses) as view_a,
        world.serve_log(tmp_path / "b.db", signer, witnesses) as view_b,
    ):
        await view_a.ledger.append_all(shared + world.entries(5, 5))
        await view_b.ledger.append_all(shared + world.entries(5, 5, subject="cd" * 32))
        peer_one = world.config(tmp_path, view_a, signer.verifier, one, "one")
        peer_two = world.config(tmp_path, view_b, signer.verifier, two, "two")
        await world.follow(peer_one)
        await world.follow(peer_two)  # each peer saw one history and cosigned it
        note_one = (peer_one.state_dir / peer.COSIGNED_NOTE).read_text()
        note_two = (peer_two.state_dir / peer.COSIGNED_NOTE).read_text()

        # Comparing the cosigned checkpoints catches it, naming the size and both roots.
        result = await peer.compare(
            note_one, note_two, signer.verifier, world.ORIGIN, None, witnesses
        )
        assert not result.consistent
        assert result.message.startswith(
            "split view: the log signed two different roots for size 10"
        )
        assert (result.cosigners_a, result.cosigners_b) == ((one.name,), (two.name,))

        # Peer one shown the other history: same size, then a larger one; refused both times.
        shown_b = world.config(tmp_path, view_b, signer.verifier, one, "one")
        with pytest.raises(peer.Refusal, match="split view: the log signed two different roots"):
            await world.follow(shown_b)
        await view_b.ledger.append_all(world.entries(10, 2))
        with pytest.raises(peer.Refusal, match="inconsistent checkpoint"):
            await world.follow(shown_b)
        assert await view_b.ledger.cosignatures(12) == []
        assert await view_b.ledger.cosignatures(10) == [two.name]
        assert copy_size(shown_b) == 10
        assert len(evidence(shown_b)) == 2

        # Against a later checkpoint of its own history, the proof from the log settles it.
        await view_a.ledger.append_all(world.entries(10, 7))
        later = await view_a.ledger.checkpoint()
        async with httpx.AsyncClient() as http:
            client = peer.LogClient(view_a.url, http)
            same = await peer.compare(
                note_one, later, signer.verifier, world.ORIGIN, client.consistency
            )
            assert same.consistent and same.message.startswith("consistent: size 10 is a prefix")
            b_later = await view_b.ledger.checkpoint()
            client_b = peer.LogClient(view_b.url, http)
            crossed = await peer.compare(
                note_one, b_later, signer.verifier, world.ORIGIN, client_b.consistency
            )
            assert not crossed.consistent and "is not a prefix" in crossed.message


async def test_a_rolled_back_log_is_refused(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    history = world.entries(0, 12)
    async with world.serve_log(tmp_path / "full.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(history)
        cfg = world.config(tmp_path, log, signer.verifier, health)
        await world.follow(cfg)
    async with world.serve_log(tmp_path / "short.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(history[:8])
        cfg = world.config(tmp_path, log, signer.verifier, health)
        with pytest.raises(peer.Refusal, match="log rolled back: checkpoint size 8"):
            await world.follow(cfg)
        assert await log.ledger.cosignatures(8) == []


async def test_a_checkpoint_of_another_origin_is_refused(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 3))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        cfg = peer.PeerConfig(**{**cfg.__dict__, "origin": "accord.test/other"})
        with pytest.raises(peer.Refusal, match="origin"):
            await world.follow(cfg)
        assert await log.ledger.cosignatures(3) == []


async def test_a_signed_entry_with_a_forged_member_signature_is_refused(tmp_path, monkeypatch):
    """A log whose writer skips the member-signature check signs a checkpoint over a consent
    nobody signed: the root matches, but the peer's own append path re-checks the signature."""
    from ledger.members import MemberKeys
    from tests.ledger import samples

    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    admitted, _ = world.members()
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(admitted + world.entries(0, 10))
        cfg = world.config(tmp_path, log, signer.verifier, health)
        await world.follow(cfg)
        stranger = keys.generate("agency0")  # same member name, not the admitted key
        forged = samples.consent("agency0", stranger, 7)
        with monkeypatch.context() as patched:
            patched.setattr(MemberKeys, "check", lambda self, entry: None)
            await log.ledger.append_all([forged, *world.entries(10, 5)])
        size = log.ledger.size

        with pytest.raises(peer.Refusal, match="consent.granted by agency0: signature does not"):
            await world.follow(cfg)

        assert await log.ledger.cosignatures(size) == []
        assert copy_size(cfg) == size - 6  # the consents the admitted keys signed were taken


async def test_an_entry_that_is_not_canonical_is_refused_and_named(tmp_path):
    signer = keys.generate(world.ORIGIN)
    health = world.witness("witness.health.test")
    async with world.serve_log(tmp_path / "log.db", signer, [health.verifier]) as log:
        await log.ledger.append_all(world.entries(0, 8))
        log.edit_row(5, b'"req-5",', b'"req-5" ,')
        cfg = world.config(tmp_path, log, signer.verifier, health)

        with pytest.raises(peer.Refusal, match="entry 5: entry is not canonical JSON"):
            await world.follow(cfg)

        assert await log.ledger.cosignatures(8) == []
        assert copy_size(cfg) == 0


async def test_peers_comparing_published_checkpoints_catch_a_split_view(tmp_path):
    """Each peer sees one consistent history, so each cosigns; comparing the checkpoints they
    publish after every round is what exposes the log."""
    signer = keys.generate(world.ORIGIN)
    one, two = world.witness("witness.one.test"), world.witness("witness.two.test")
    lines: list[str] = []
    async with (
        world.serve_log(tmp_path / "a.db", signer, [one.verifier]) as view_a,
        world.serve_log(tmp_path / "b.db", signer, [two.verifier]) as view_b,
    ):
        await view_a.ledger.append_all(world.entries(0, 30))
        await view_b.ledger.append_all(world.entries(0, 30))  # the same history so far
        peer_one = world.config(tmp_path, view_a, signer.verifier, one, "one")
        peer_two = world.config(tmp_path, view_b, signer.verifier, two, "two")
        published = str(peer_two.state_dir / peer.COSIGNED_NOTE)
        peer_one = peer.PeerConfig(**{**peer_one.__dict__, "compare_with": (published,)})
        assert await peer.run(peer_two, 0.01, True, lines.append) == 0
        assert await peer.run(peer_one, 0.01, True, lines.append) == 0

        await view_a.ledger.append_all(world.entries(30, 10))
        await view_b.ledger.append_all(world.entries(30, 8, subject="cd" * 32))
        assert await peer.run(peer_two, 0.01, True, lines.append) == 0

        # Peer one's own copy proves (or here: cannot prove) size 38 against its size 40.
        assert await peer.run(peer_one, 0.01, True, lines.append) == 3, lines

        assert lines[-2] == "size 40: 10 new entries verified and copied; cosigned (log took 1)"
        assert lines[-1].startswith("refused: split view: checkpoint at size 38 is not a prefix")
        (kept,) = evidence(peer_one)
        assert (kept / "offered.note").read_text() == Path(published).read_text()
        assert (kept / "trusted.note").read_text() == (
            peer_one.state_dir / peer.COSIGNED_NOTE
        ).read_text()

        # The other view runs ahead; once this peer's copy passes it, its copy settles it.
        await view_b.ledger.append_all(world.entries(50, 4, subject="cd" * 32))
        assert await peer.run(peer_two, 0.01, True, lines.append) == 0
        await view_a.ledger.append_all(world.entries(40, 10))
        assert await peer.run(peer_one, 0.01, True, lines.append) == 3
        assert "checkpoint at size 42 is not a prefix of the one at size 50" in lines[-1]
        assert len(evidence(peer_one)) == 2

        missing = peer.PeerConfig(
            **{**peer_one.__dict__, "compare_with": (str(tmp_path / "none.note"),)}
        )
        assert await peer.run(missing, 0.01, True, lines.append) == 1
        assert lines[-1].startswith("error: cannot read the checkpoint at")
