"""``accord peer`` as a partner agency runs it: a child process following a real log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from ledger import keys
from tests.peer import world
from tests.support import free_port

pytestmark = pytest.mark.anyio


async def accord(data_dir: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    """Run ``accord ARGS`` with its own data directory (and ``ACCORD_<NAME>`` settings); the
    test's loop keeps serving the log meanwhile."""
    env = {**os.environ, "ACCORD_DATA_DIR": str(data_dir), "ACCORD_LOG_ORIGIN": world.ORIGIN}
    env.update({f"ACCORD_{name.upper()}": value for name, value in settings.items()})
    env.pop("ACCORD_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=data_dir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave it running
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_keys_then_once_cosigns_and_a_tampered_log_exits_3(tmp_path):
    signer = keys.generate(world.ORIGIN)
    agency = tmp_path / "health"
    agency.mkdir()
    code, out, err = await accord(agency, "peer", "keys", "--name", "witness.health.test")
    assert code == 0, err
    witness = keys.parse_verifier(out.strip())
    assert witness.alg == keys.ALG_COSIGNATURE_V1 and witness.name == "witness.health.test"
    assert f'key = "{out.strip()}"' in err  # the gateway's witnesses entry
    assert (agency / "keys" / "witness.key").stat().st_mode & 0o077 == 0
    code, _, err = await accord(agency, "peer", "keys", "--name", "witness.health.test")
    assert code == 1 and "refusing to overwrite" in err

    async with world.serve_log(tmp_path / "log.db", signer, [witness]) as log:
        await log.ledger.append_all(world.entries(0, 40))
        run = ("peer", "--once", "--log", log.url, "--log-key", signer.verifier.encode())

        code, _, err = await accord(agency, *run)
        assert code == 0, err
        assert err.strip().endswith(
            "size 40: 40 new entries verified and copied; cosigned (log took 1)"
        )
        assert await log.ledger.cosignatures(40) == [witness.name]

        await log.ledger.append_all(world.entries(40, 10))
        log.edit_row(45, b'"req-45"', b'"req-54"')
        log.seen.clear()
        # Configured through settings this time (the environment), not flags.
        code, _, err = await accord(
            agency, "peer", "--once", peer_log_url=log.url, peer_log_key=signer.verifier.encode()
        )
        assert code == 3
        (line,) = err.strip().splitlines()
        assert "refused: root mismatch" in line and "evidence:" in line
        assert await log.ledger.cosignatures(50) == []
        # The restarted peer asked only for what it did not hold.
        assert log.requests("/ledger/entries") == ["start=40&end=50"]


async def test_bad_configuration_is_one_line_and_exit_1(tmp_path):
    signer = keys.generate(world.ORIGIN)
    keys.save(world.witness("witness.health.test"), tmp_path / "keys", "witness")
    key = signer.verifier.encode()
    unused = f"http://127.0.0.1:{free_port()}"
    cases = [
        (("peer", "--once", "--log-key", key), "the log's URL is needed"),
        (("peer", "--once", "--log", unused), "the log's verifier key is needed"),
        (("peer", "--once", "--log", unused, "--log-key", "nonsense"), "log key:"),
        (("peer", "--once", "--log", "ftp://x", "--log-key", key), "must be an http(s) URL"),
        (("peer", "--once", "--log", unused, "--log-key", key), "cannot reach the log"),
    ]
    for args, message in cases:
        code, _, err = await accord(tmp_path, *args)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    # A log key (0x01) is not a witness key (0x04).
    (tmp_path / "log.key").write_text(signer.encode() + "\n")
    (tmp_path / "log.key").chmod(0o600)
    code, _, err = await accord(
        tmp_path, "peer", "--once", "--log", unused, "--log-key", key, "--witness-key", "log.key"
    )
    assert code == 1 and "not a cosignature/v1 key" in err
    assert not (tmp_path / "peer" / "cosigned.note").exists()


async def test_compare_command(tmp_path):
    signer = keys.generate(world.ORIGIN)
    one, two = world.witness("witness.one.test"), world.witness("witness.two.test")
    async with (
        world.serve_log(tmp_path / "a.db", signer, [one.verifier]) as view_a,
        world.serve_log(tmp_path / "b.db", signer, [two.verifier]) as view_b,
    ):
        await view_a.ledger.append_all(world.entries(0, 9))
        await view_b.ledger.append_all(world.entries(0, 4) + world.entries(100, 5))
        peer_one = world.config(tmp_path, view_a, signer.verifier, one, "one")
        peer_two = world.config(tmp_path, view_b, signer.verifier, two, "two")
        await world.follow(peer_one)
        await world.follow(peer_two)
        a, b = tmp_path / "one-9.note", tmp_path / "two-9.note"
        a.write_text((peer_one.state_dir / "cosigned.note").read_text())
        b.write_text((peer_two.state_dir / "cosigned.note").read_text())
        await view_a.ledger.append_all(world.entries(9, 3))
        (tmp_path / "later.note").write_text(await view_a.ledger.checkpoint())
        await world.follow(peer_one)  # its copy now reaches the later checkpoint
        key = ("--log-key", signer.verifier.encode())

        code, out, err = await accord(tmp_path, "peer", "compare", str(a), str(b), *key)
        assert code == 3, err
        result = json.loads(out)
        assert (
            result["consistent"] is False and "two different roots for size 9" in result["message"]
        )

        later = str(tmp_path / "later.note")
        code, out, err = await accord(
            tmp_path, "peer", "compare", str(a), later, "--log", view_a.url, *key
        )
        assert code == 0 and json.loads(out)["consistent"] is True, err
        code, out, err = await accord(
            tmp_path, "peer", "compare", str(b), later, "--store", peer_one.store_url, *key
        )
        assert code == 3, err
        assert "is not a prefix" in json.loads(out)["message"]

        code, _, err = await accord(tmp_path, "peer", "compare", str(a), later, *key)
        assert code == 1 and "need a consistency proof" in err
        forged = tmp_path / "forged.note"
        forged.write_text(a.read_text().replace("\n9\n", "\n8\n"))
        code, _, err = await accord(tmp_path, "peer", "compare", str(forged), later, *key)
        assert code == 1 and "checkpoint refused" in err
        code, _, err = await accord(tmp_path, "peer", "compare", "missing.note", later, *key)
        assert code == 1 and "cannot read" in err
