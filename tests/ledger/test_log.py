"""The group-commit log on SQLite and PostgreSQL: receipts, proofs, atomicity, refusals."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, select, text

from ledger import checkpoint as notes
from ledger import keys, merkle, store
from ledger.entries import EntryError, new_entry, operator_entry, sign_entry
from ledger.log import Committed, Deferred, LedgerUnavailable, open_ledger
from ledger.verify import verify_store
from tests.ledger.conftest import ORIGIN
from tests.ledger.samples import admission, consent, denial, disclosure

pytestmark = pytest.mark.anyio


async def test_receipts_prove_inclusion_under_the_signed_checkpoint(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        receipts = [await ledger.append(disclosure(n)) for n in range(5)]
        receipts += await ledger.append_all([denial(n) for n in range(300)])
        assert [r.index for r in receipts] == list(range(305))
        for receipt in receipts[:5] + receipts[-3:]:
            checkpoint = notes.open_checkpoint(receipt.checkpoint, log_signer.verifier, ORIGIN)
            assert checkpoint.size > receipt.index
            proof = await ledger.inclusion_proof(receipt.index, checkpoint.size)
            merkle.verify_inclusion(
                receipt.index, checkpoint.size, receipt.leaf_hash, proof, checkpoint.root
            )
        stored = await ledger.entries(0, 305)
        assert stored[3] == disclosure(3)
        assert merkle.leaf_hash(stored[7].encode()) == receipts[7].leaf_hash

        first = notes.open_checkpoint(receipts[2].checkpoint, log_signer.verifier)
        latest = notes.open_checkpoint(await ledger.checkpoint(), log_signer.verifier)
        proof = await ledger.consistency_proof(first.size, latest.size)
        merkle.verify_consistency(first.size, latest.size, first.root, latest.root, proof)
        assert latest.size == ledger.size == 305

    # Reopening continues the same tree.
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        assert ledger.size == 305
        receipt = await ledger.append(disclosure(999))
        assert receipt.index == 305
        after = notes.open_checkpoint(receipt.checkpoint, log_signer.verifier)
        proof = await ledger.consistency_proof(latest.size, after.size)
        merkle.verify_consistency(latest.size, after.size, latest.root, after.root, proof)
    assert verify_store(ledger_url, log_signer.verifier, origin=ORIGIN).entries == 306


async def test_concurrent_appends_share_batches_and_get_distinct_indexes(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        receipts = await asyncio.gather(*(ledger.append(disclosure(n)) for n in range(400)))
        assert sorted(r.index for r in receipts) == list(range(400))
        assert ledger.batches < 400  # group commit: many callers per transaction
        entries = await ledger.entries(0)
        for receipt in receipts:
            assert merkle.leaf_hash(entries[receipt.index].encode()) == receipt.leaf_hash
    verify_store(ledger_url, log_signer.verifier)


async def test_an_inline_writer_groups_appends_and_releases_receipts_before_deferred_work(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    """The ledger's own process commits on its event loop's thread. Each batch's callers get
    their receipts (and may append again) before the writer blocks the loop for the next step,
    so work left for idle moments never holds back receipts of a batch already committed."""
    order: list[tuple[str, int]] = []
    noted: list[int] = []

    def note(connection: Connection, committed: list[Committed]):
        return lambda: noted.extend(c.index for c in committed)

    def index_noted(connection: Connection) -> None:
        order.append(("indexed", len(noted)))
        noted.clear()

    async def appender(first: int) -> None:
        for n in range(first, first + 10):  # one after another: each waits for its receipt
            receipt = await ledger.append(disclosure(n))
            order.append(("receipt", receipt.index))

    async with open_ledger(ledger_url, log_signer, ORIGIN, inline_writer=True) as ledger:
        ledger.on_commit.append(note)
        ledger.deferred.append(Deferred(lambda: bool(noted), index_noted))
        await asyncio.gather(*(appender(10 * a) for a in range(20)))
        await ledger.settle()
        entries = await ledger.entries(0)
        batches = ledger.batches
    assert sorted(e.body["request_id"] for e in entries) == sorted(
        disclosure(n).body["request_id"] for n in range(200)
    )
    assert 10 <= batches < 200  # the appenders' turns shared batches
    released: set[int] = set()
    indexed = 0
    for step, value in order:
        if step == "receipt":
            released.add(value)
        else:
            indexed += value
            assert set(range(indexed)) <= released, "idle-time work ran before receipts"
    assert released == set(range(200)) and indexed == 200
    verify_store(ledger_url, log_signer.verifier)


async def test_signed_entries_need_a_known_member_key(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    health, intruder = keys.generate("health"), keys.generate("health")
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        with pytest.raises(EntryError, match="not an admitted member"):
            await ledger.append(consent("health", health))
        # Admission and a consent in one atomic batch: the later entry sees the earlier key.
        await ledger.append_all([admission("health", health), consent("health", health, 1)])
        with pytest.raises(EntryError, match="signature does not verify"):
            await ledger.append(consent("health", intruder, 2))
        with pytest.raises(EntryError, match="already admitted"):
            await ledger.append(admission("health", intruder))
        forged = consent("health", health, 3)
        forged = type(forged)(**{**forged.to_json(), "ts": forged.ts + 1})
        with pytest.raises(EntryError, match="signature does not verify"):
            await ledger.append(forged)
        unsigned = new_entry(
            "consent.granted", {"consent_id": "c", "subject": "s", "jws": "j"}, "health"
        )
        with pytest.raises(EntryError, match="not signed"):
            await ledger.append(unsigned)

        # Rotation: signed by the old key; afterwards only the new key counts.
        rotated = keys.generate("health")
        rotation = new_entry(
            "member.key_rotated", {"member": "health", "key": keys.public_b64(rotated)}, "health"
        )
        with pytest.raises(EntryError, match="signature does not verify"):
            await ledger.append(sign_entry(rotation, rotated))
        await ledger.append(sign_entry(rotation, health))
        with pytest.raises(EntryError, match="signature does not verify"):
            await ledger.append(consent("health", health, 4))
        await ledger.append(consent("health", rotated, 5))
        assert ledger.size == 4
    assert verify_store(ledger_url, log_signer.verifier).members == {"health": rotated.public}


async def test_a_refused_entry_fails_its_whole_group_and_changes_nothing(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    member = keys.generate("courts")
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        await ledger.append(disclosure(0))
        before = await ledger.checkpoint()
        group = [disclosure(1), consent("courts", member), disclosure(2)]
        outcomes = await asyncio.gather(
            ledger.append_all(group), ledger.append(disclosure(3)), return_exceptions=True
        )
        assert isinstance(outcomes[0], EntryError)
        assert outcomes[1].index == 1  # the other caller is unaffected
        assert ledger.size == 2
        assert [e.body["request_id"] for e in await ledger.entries(0)] == ["req-0", "req-3"]
        assert before != await ledger.checkpoint()
    verify_store(ledger_url, log_signer.verifier)


async def test_non_entries_are_refused(sqlite_url: str, log_signer: keys.Signer) -> None:
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        with pytest.raises(EntryError, match="expected an Entry"):
            await ledger.append({"type": "disclosure"})  # type: ignore[arg-type]
        assert ledger.size == 0


async def test_unchecked_operator_entries_are_checked_when_appended(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    good = disclosure(0).body
    bad = {**good, "fields": "Person.diagnoses"}  # a string, not a list
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        with pytest.raises(EntryError, match="fields"):
            await ledger.append_all(
                [operator_entry("disclosure", good), operator_entry("disclosure", bad)]
            )
        assert ledger.size == 0
        receipt = await ledger.append(operator_entry("disclosure", good))
        assert receipt.index == 0
    with pytest.raises(EntryError, match="signed by their author"):
        operator_entry("consent.granted", good)


def test_malformed_entries_are_refused_before_they_reach_the_log() -> None:
    body = disclosure().body
    with pytest.raises(EntryError, match="unknown entry type"):
        new_entry("disclosure.v2", body)
    with pytest.raises(EntryError, match="body.fields"):
        new_entry("disclosure", {**body, "fields": "attendance"})
    with pytest.raises(EntryError, match="Extra inputs"):
        new_entry("disclosure", {**body, "name": "Jane Doe"})
    with pytest.raises(EntryError, match="written by the operator"):
        new_entry("disclosure", body, author="health")
    with pytest.raises(EntryError, match="not the operator"):
        new_entry("consent.revoked", {"consent_id": "c", "subject": "s", "reason": "r"})
    with pytest.raises(EntryError, match="agency kind"):
        new_entry(
            "member.admitted",
            {
                "member": "x",
                "name": "X",
                "kind": "bank",
                "key": keys.public_b64(keys.generate("x")),
            },
            author="x",
        )


async def test_commit_hooks_run_inside_the_batch_transaction(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    metadata = MetaData()
    index = Table(
        "hook_index",
        metadata,
        Column("idx", Integer, primary_key=True),
        Column("request", String(50)),
    )
    seen: list[list[int]] = []

    def record(connection: Connection, committed: list[Committed]) -> None:
        metadata.create_all(connection)
        for item in committed:
            if item.entry.body.get("request_id") == "req-poison":
                raise EntryError("the index refuses req-poison")
        connection.execute(
            index.insert(),
            [{"idx": c.index, "request": c.entry.body["request_id"]} for c in committed],
        )
        seen.append([c.index for c in committed])

    async with open_ledger(ledger_url, log_signer, ORIGIN, on_commit=[record]) as ledger:
        await ledger.append(disclosure(0))
        poison = disclosure(1)
        poison = type(poison)(
            **{**poison.to_json(), "body": {**poison.body, "request_id": "req-poison"}}
        )
        outcomes = await asyncio.gather(
            *(ledger.append(disclosure(n)) for n in range(2, 6)),
            ledger.append(poison),
            return_exceptions=True,
        )
        assert isinstance(outcomes[-1], EntryError) and "req-poison" in str(outcomes[-1])
        assert all(not isinstance(o, Exception) for o in outcomes[:-1])
        assert ledger.size == 5
        engine = store.make_engine(ledger_url)
        with engine.connect() as connection:
            rows = connection.execute(
                select(index.c.idx, index.c.request).order_by(index.c.idx)
            ).all()
        engine.dispose()
        entries = await ledger.entries(0)
        assert [(i, e.body["request_id"]) for i, e in enumerate(entries)] == [
            tuple(r) for r in rows
        ]
        assert "req-poison" not in {r[1] for r in rows}
    verify_store(ledger_url, log_signer.verifier)


def _break_inserts(url: str) -> None:
    engine = store.make_engine(url)
    with engine.begin() as connection:
        if store.is_postgres(connection):
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON ledger_entries "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON ledger_entries "
                    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
                )
            )
    engine.dispose()


def _repair_inserts(url: str) -> None:
    engine = store.make_engine(url)
    with engine.begin() as connection:
        if store.is_postgres(connection):
            connection.execute(text("DROP TRIGGER refuse ON ledger_entries"))
        else:
            connection.execute(text("DROP TRIGGER refuse"))
    engine.dispose()


async def test_a_failed_batch_fails_every_caller_and_leaves_nothing(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        await ledger.append(disclosure(0))
        checkpoint = await ledger.checkpoint()
        assert ledger.writable
        _break_inserts(ledger_url)
        outcomes = await asyncio.gather(
            *(ledger.append(disclosure(n)) for n in range(1, 60)), return_exceptions=True
        )
        assert all(isinstance(o, LedgerUnavailable) for o in outcomes)
        assert "disk on fire" in str(outcomes[0]) and "nothing recorded" in str(outcomes[0])
        assert not ledger.writable and not await ledger.healthy()
        assert ledger.size == 1 and await ledger.checkpoint() == checkpoint
        assert len(await ledger.entries(0, 1)) == 1
        _repair_inserts(ledger_url)
        receipt = await ledger.append(disclosure(100))
        assert receipt.index == 1 and ledger.writable and await ledger.healthy()
    report = verify_store(ledger_url, log_signer.verifier)
    assert report.entries == 2


async def test_two_writers_on_one_store_stay_consistent(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with (
        open_ledger(ledger_url, log_signer, ORIGIN) as first,
        open_ledger(ledger_url, log_signer, ORIGIN) as second,
    ):
        receipts = []
        for round_ in range(5):
            receipts += await asyncio.gather(
                *(first.append(disclosure(round_ * 100 + n)) for n in range(30)),
                *(second.append(denial(round_ * 100 + n)) for n in range(30)),
            )
        assert sorted(r.index for r in receipts) == list(range(300))
        note = await second.checkpoint()
        cp = notes.open_checkpoint(note, log_signer.verifier)
        for receipt in receipts[::37]:
            proof = await second.inclusion_proof(receipt.index, cp.size)
            merkle.verify_inclusion(receipt.index, cp.size, receipt.leaf_hash, proof, cp.root)
    assert verify_store(ledger_url, log_signer.verifier).entries == 300


async def test_cosignatures_from_configured_witnesses(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    witness = keys.generate("witness.test/health", keys.ALG_COSIGNATURE_V1)
    stranger = keys.generate("witness.test/stranger", keys.ALG_COSIGNATURE_V1)
    async with open_ledger(ledger_url, log_signer, ORIGIN, witnesses=[witness.verifier]) as ledger:
        receipt = await ledger.append(disclosure(0))
        body, _ = notes.split_note(receipt.checkpoint)
        line = notes.cosign(body, witness, int(time.time())).line()
        assert await ledger.add_cosignature(receipt.checkpoint + line) == 1
        assert (await ledger.checkpoint()).endswith(line)

        with pytest.raises(notes.CheckpointError, match="no cosignature from a configured"):
            await ledger.add_cosignature(
                receipt.checkpoint + notes.cosign(body, stranger, 1).line()
            )
        bad = notes.NoteSignature(witness.name, witness.key_id, b"\x00" * 72)
        with pytest.raises(notes.CheckpointError, match="does not verify"):
            await ledger.add_cosignature(receipt.checkpoint + bad.line())
        fake = notes.Checkpoint(ORIGIN, 1, b"\x11" * 32)
        fake_note = (
            notes.signed_note(fake, log_signer) + notes.cosign(fake.body(), witness, 1).line()
        )
        with pytest.raises(notes.CheckpointError, match="not the one this log signed"):
            await ledger.add_cosignature(fake_note)
        unknown = notes.Checkpoint(ORIGIN, 999, b"\x11" * 32)
        unknown_note = notes.signed_note(unknown, log_signer)
        unknown_note += notes.cosign(unknown.body(), witness, 1).line()
        with pytest.raises(notes.CheckpointError, match="size 999 is not one this log signed"):
            await ledger.add_cosignature(unknown_note)
    witnesses = [keys.parse_verifier(witness.verifier.encode())]
    assert verify_store(ledger_url, log_signer.verifier, witnesses=witnesses).cosignatures == 1


async def test_a_store_from_a_newer_version_or_another_log_is_refused(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        await ledger.append(disclosure(0))
    with pytest.raises(store.StoreError, match="not this log's"):
        async with open_ledger(ledger_url, keys.generate(ORIGIN), ORIGIN):
            pass
    engine = store.make_engine(ledger_url)
    with engine.begin() as connection:
        connection.execute(store.schema_table.update().values(version=store.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(store.StoreError, match="newer than this Accord"):
        async with open_ledger(ledger_url, log_signer, ORIGIN):
            pass


async def test_appending_after_close_is_refused(sqlite_url: str, log_signer: keys.Signer) -> None:
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        pass
    with pytest.raises(LedgerUnavailable, match="closed"):
        await ledger.append(disclosure(0))


async def test_each_checkpoint_extends_its_predecessor(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        previous = notes.open_checkpoint(await ledger.checkpoint(), log_signer.verifier)
        for round_ in range(6):
            await asyncio.gather(*(ledger.append(disclosure(round_ * 50 + n)) for n in range(50)))
            current = notes.open_checkpoint(await ledger.checkpoint(), log_signer.verifier)
            proof = await ledger.consistency_proof(previous.size, current.size)
            notes.verify_successor(previous, current, proof)
            previous = current
        # A checkpoint for a different history is refused, naming the sizes.
        forked = notes.Checkpoint(ORIGIN, previous.size + 1, merkle.leaf_hash(b"fork"))
        proof = await ledger.consistency_proof(100, previous.size)
        older = notes.Checkpoint(ORIGIN, 100, await ledger.root(100))
        with pytest.raises(notes.CheckpointError, match="not consistent with size 100"):
            notes.verify_successor(older, forked, proof)
        with pytest.raises(notes.CheckpointError, match="went back"):
            notes.verify_successor(previous, older, proof)


async def test_a_refused_group_leaves_no_member_key_behind(
    ledger_url: str, log_signer: keys.Signer
) -> None:
    health, courts = keys.generate("health"), keys.generate("courts")
    async with open_ledger(ledger_url, log_signer, ORIGIN) as ledger:
        with pytest.raises(EntryError, match="courts"):
            await ledger.append_all([admission("health", health), consent("courts", courts)])
        await ledger.append(disclosure(0))  # commits a batch after the refusal
        with pytest.raises(EntryError, match="not an admitted member"):
            await ledger.append(consent("health", health))
        assert ledger.size == 1
    assert verify_store(ledger_url, log_signer.verifier).members == {}


def test_sqlite_stores_run_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = store.make_engine(sqlite_url, writer=True)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        checkpoint_at = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert checkpoint_at == store.WAL_CHECKPOINT_PAGES > 1000  # fewer write-backs
    engine.dispose()
    with pytest.raises(store.StoreError, match="in-memory"):
        store.make_engine("sqlite://")
    with pytest.raises(store.StoreError, match="unsupported"):
        store.make_engine("mysql://localhost/x")


async def test_an_entry_changed_after_creation_is_checked_again(
    sqlite_url: str, log_signer: keys.Signer
) -> None:
    async with open_ledger(sqlite_url, log_signer, ORIGIN) as ledger:
        entry = disclosure(0)
        entry.body["decided_at"] = 1.5  # mutated after new_entry checked it
        with pytest.raises(EntryError, match="decided_at"):
            await ledger.append(entry)
        entry.body["decided_at"] = 7
        entry.body["name"] = "Jane Doe"
        with pytest.raises(EntryError, match="Extra inputs"):
            await ledger.append(entry)
        del entry.body["name"]
        receipt = await ledger.append(entry)
        assert (await ledger.entries(0))[0].body["decided_at"] == 7
        assert receipt.leaf_hash == merkle.leaf_hash(entry.encode())
        assert ledger.size == 1
