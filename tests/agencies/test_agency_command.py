"""``accord agency`` as an operator runs it: a child process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from app.identity import ensure_gateway_key, keys_dir
from schema.subgraph_auth import GatewayClaims, make_gateway_token
from tests.support import ROOT, accord_process, free_port, stop_process, wait_http


def run_accord(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_agency_serves_with_the_gateway_key_from_the_data_directory(tmp_path: Path) -> None:
    key, _ = ensure_gateway_key(tmp_path)  # what `accord keys init` writes
    port = free_port()
    proc = accord_process(
        ["agency", "courts", "--port", str(port), "--people", "300"],
        env={"ACCORD_DATA_DIR": str(tmp_path)},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        claims = GatewayClaims(
            agency="health", user="u1", purpose="TREAT", request_id="r1", audience="courts"
        )
        token = make_gateway_token(claims, key)
        url = f"http://127.0.0.1:{port}/graphql"
        query = {
            "query": '{ _entities(representations: [{__typename: "Person", id: "P000002"}])'
            " { ... on Person { id } } }"
        }
        ok = httpx.post(url, json=query, headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json() == {"data": {"_entities": [{"id": "P000002"}]}}
        assert httpx.post(url, json=query).status_code == 401
        sdl = httpx.post(url, json={"query": "{ _service { sdl } }"})
        assert '@dataCategory(name: "court.juvenile")' in sdl.json()["data"]["_service"]["sdl"]
    finally:
        output = stop_process(proc)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises it so the exit status says why.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "agency courts serving 300 people" in output
    assert "gateway tokens for 'courts'" in output


def test_agency_reads_an_explicit_key_file_and_refuses_a_taken_port(tmp_path: Path) -> None:
    key, _ = ensure_gateway_key(tmp_path / "gw")
    pem = tmp_path / "gateway.pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    env = {"ACCORD_DATA_DIR": str(tmp_path / "empty")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_accord(
            "agency", "health", "--port", str(port), "--gateway-key", str(pem), env=_env(env)
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"accord: error: port {port} on 127.0.0.1 is already in use; choose another with --port"
    )


def test_agency_without_a_gateway_key_says_what_to_do(tmp_path: Path) -> None:
    result = run_accord("agency", "health", env=_env({"ACCORD_DATA_DIR": str(tmp_path)}))
    assert result.returncode == 1
    assert "no gateway public key: run 'accord keys init'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not keys_dir(tmp_path).exists(), "a refused start must create nothing"


def test_agency_with_a_bad_key_file_or_bad_size_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    env = _env({"ACCORD_DATA_DIR": str(tmp_path)})
    result = run_accord("agency", "education", "--gateway-key", str(bad), env=env)
    assert result.returncode == 1 and "holds no Ed25519 public key" in result.stderr
    result = run_accord("agency", "education", "--no-gateway-auth", "--people", "0", env=env)
    assert result.returncode == 1 and "--people: population size" in result.stderr
    result = run_accord("agency", "police", env=env)
    assert result.returncode == 2 and "invalid choice: 'police'" in result.stderr


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
