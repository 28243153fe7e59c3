"""``accord ledger``: init, verify, checkpoint, proofs, export and import."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from app.cli import main
from ledger import checkpoint as notes
from ledger import keys, merkle, store
from ledger.log import open_ledger
from tests.ledger.samples import admission, consent, disclosure

ORIGIN = "accord.example/ledger"  # the default log origin in settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACCORD_LEDGER_URL", ledger_url)
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["ledger", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _fill(url: str, signer: keys.Signer, count: int) -> None:
    member = keys.generate("education")

    async def go() -> None:
        async with open_ledger(url, signer, ORIGIN) as ledger:
            await ledger.append_all([admission("education", member, "school")])
            await ledger.append(consent("education", member, 1))
            for start in range(2, count, 50):
                await asyncio.gather(
                    *(ledger.append(disclosure(n)) for n in range(start, min(start + 50, count)))
                )

    asyncio.run(go())


def test_init_verify_checkpoint_and_proofs(
    data_dir: Path, ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0 and "log key: accord.example/ledger+" in out
    signer = keys.load_signer(data_dir / "keys" / "log.key")
    _fill(ledger_url, signer, 300)

    code, out, _ = run(capsys, "verify")
    assert code == 0
    summary = json.loads(out)
    assert summary["ok"] and summary["entries"] == 300

    code, note, _ = run(capsys, "checkpoint")
    checkpoint = notes.open_checkpoint(note, keys.load_verifier(data_dir / "keys" / "log.pub"))
    assert checkpoint.size == 300

    code, out, _ = run(capsys, "proof", "inclusion", "5", "--size", "200")
    proof = json.loads(out)
    root = base64.b64decode(proof["root"])
    merkle.verify_inclusion(
        5,
        200,
        base64.b64decode(proof["leaf_hash"]),
        [base64.b64decode(h) for h in proof["proof"]],
        root,
    )
    code, out, _ = run(capsys, "proof", "consistency", "200", "300")
    consistency = json.loads(out)
    assert base64.b64decode(consistency["old_root"]) == root
    assert base64.b64decode(consistency["new_root"]) == checkpoint.root
    merkle.verify_consistency(
        200, 300, root, checkpoint.root, [base64.b64decode(h) for h in consistency["proof"]]
    )

    code, _, err = run(capsys, "proof", "inclusion", "300")
    assert code == 1 and "leaf 300 is not in a tree of size 300" in err
    code, _, err = run(capsys, "proof", "consistency", "10", "301")
    assert code == 1 and "beyond the log's size 300" in err


def test_verify_exits_non_zero_naming_the_bad_entry(
    data_dir: Path, ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "init")
    _fill(ledger_url, keys.load_signer(data_dir / "keys" / "log.key"), 40)
    engine = store.make_engine(ledger_url)
    with engine.begin() as connection:
        table = store.entries_table
        connection.execute(
            update(table).where(table.c.idx == 17).values(data=disclosure(99).encode())
        )
    engine.dispose()
    code, out, err = run(capsys, "verify")
    assert code == 1 and out == ""
    assert "ledger does not verify: entry 17" in err


def test_export_then_import_into_a_fresh_store_verifies(
    data_dir: Path,
    ledger_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(capsys, "init")
    _fill(ledger_url, keys.load_signer(data_dir / "keys" / "log.key"), 120)
    export = tmp_path / "export.jsonl"
    assert run(capsys, "export", "-o", str(export))[0] == 0
    lines = export.read_bytes().splitlines()
    assert len(lines) == 120
    _, original, _ = run(capsys, "checkpoint")

    # A fresh store elsewhere, with its own log key.
    monkeypatch.setenv("ACCORD_DATA_DIR", str(tmp_path / "copy"))
    monkeypatch.setenv("ACCORD_LEDGER_URL", f"sqlite:///{tmp_path / 'copy' / 'ledger.db'}")
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\n".join([*lines[:3], b'{"v":1,"type":"nope"}', *lines[3:]]))
    code, _, err = run(capsys, "import", str(broken))
    assert code == 1 and "broken.jsonl:4:" in err
    code, note, _ = run(capsys, "import", str(export))
    assert code == 0
    assert run(capsys, "verify")[0] == 0
    # Same entries, same tree: the copy's root equals the original's.
    assert note.split("\n")[1:3] == original.split("\n")[1:3]
    _, copied, _ = run(capsys, "export")
    assert copied.encode().splitlines() == lines
    code, _, err = run(capsys, "import", str(export))
    assert code == 1 and "already holds 120 entries" in err
