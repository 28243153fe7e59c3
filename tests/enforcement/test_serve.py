"""``accord serve`` enforcing consent as a real process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from app.demo_idp import DemoIdentityProvider
from tests.enforcement.world import NOTABLE, ORIGIN
from tests.support import accord_process, free_port, stop_process, wait_http


def _env(data_dir: Path, supergraph: str, port: int, **extra: str) -> dict[str, str]:
    path = data_dir / "supergraph.graphql"
    path.write_text(supergraph, encoding="utf-8")
    issuers = [i.model_dump(mode="json") for i in DemoIdentityProvider(data_dir).issuers()]
    return {
        "ACCORD_DATA_DIR": str(data_dir),
        "ACCORD_SUPERGRAPH": str(path),
        "ACCORD_PORT": str(port),
        "ACCORD_LOG_ORIGIN": ORIGIN,
        "ACCORD_ISSUERS": json.dumps(issuers),
        "ACCORD_CONFIG": str(data_dir / "absent.toml"),
        **extra,
    }


def test_serve_authenticates_enforces_and_records(data_dir, agencies, ledgered):
    person = NOTABLE["adult"]
    ledgered.grant(person, ("human_services",))
    (data_dir / "absent.toml").write_text("", encoding="utf-8")
    port = free_port()
    process = accord_process(["serve"], env=_env(data_dir, agencies.supergraph, port))
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc=process, timeout=60)
        query = {"query": '{ person(id: "%s") { givenName } }' % person}  # noqa: UP031
        url = f"http://127.0.0.1:{port}/graphql"
        assert httpx.post(url, json=query).status_code == 401
        token = DemoIdentityProvider(data_dir).case_worker_token("human_services", "COC")
        answer = httpx.post(url, json=query, headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["data"]["person"]["givenName"]
        (index,) = body["extensions"]["accord"]["entries"]
    finally:
        output = stop_process(process)
    assert process.returncode == 0, output
    assert dict(ledgered.entries())[index]["type"] == "disclosure"


def test_serve_that_cannot_open_its_ledger_exits_with_an_error(data_dir, agencies):
    blocker = data_dir / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    (data_dir / "absent.toml").write_text("", encoding="utf-8")
    port = free_port()
    env = _env(
        data_dir,
        agencies.supergraph,
        port,
        ACCORD_LEDGER_URL=f"sqlite:///{blocker}/ledger.db",
    )
    process = accord_process(["serve"], env=env)
    try:
        process.wait(timeout=60)
    finally:
        output = stop_process(process)
    assert process.returncode != 0
    assert "cannot open the ledger" in output and "Traceback" not in output
    assert all(not agencies.calls(name) for name in agencies.recordings)
