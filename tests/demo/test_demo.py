"""``accord demo`` end to end: started as a user starts it, queried, stopped, started again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.demo.samples import FIRST_QUERY, SAMPLE_PERSON, SAMPLE_QUERIES
from app.demo.witness import WITNESS_NAME, peer_home
from examples.people import Population
from ledger import checkpoint, keys
from tests.demo.harness import (
    DemoRun,
    banner_value,
    listening,
    post,
    readme_answer,
    readme_query,
)
from tests.support import ROOT

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for child processes")

FOUNDING_ENTRIES = 4 + 1 + 2 + 1 + 300  # admissions, proposal, approvals, activation, consents


def ledger_entries(data_dir: Path, start: int) -> list[dict]:
    """The ledger's entries from index ``start`` on, one per line, read with the CLI."""
    result = subprocess.run(
        [sys.executable, "-m", "app", "ledger", "export", "--start", str(start)],
        cwd=ROOT,
        env={"ACCORD_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def ledger_size(data_dir: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "app", "ledger", "verify"],
        cwd=ROOT,
        env={"ACCORD_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])["entries"]


def check_first_answer(status: int, answer: dict) -> list[int]:
    """The answer the README documents for the first query; returns the receipt's indexes."""
    assert status == 200, answer
    people = Population()
    person = answer["data"]["person"]
    # Permitted: the name (the person's consent) and the diagnoses (HIPAA treatment).
    assert person["givenName"] == people.person(SAMPLE_PERSON).given_name
    assert person["familyName"] == people.person(SAMPLE_PERSON).family_name
    expected = [d.code for d in people.health(SAMPLE_PERSON).diagnoses]
    assert expected and [d["code"] for d in person["diagnoses"]] == expected
    # Withheld: the benefits, with a machine-readable reason at their path.
    assert people.human_services(SAMPLE_PERSON).benefits, "the sample person has benefits"
    assert person["benefits"] is None
    errors = answer["errors"]
    assert [e["path"] for e in errors] == [["person", "benefits"]]
    extensions = errors[0]["extensions"]
    assert extensions["code"] == "CONSENT_REQUIRED"
    assert extensions["category"] == "human_services.benefits"
    assert extensions["rule"] and extensions["reason"]
    # The ledger receipt.
    receipt = answer["extensions"]["accord"]
    assert receipt["requestId"]
    assert receipt["entries"] and all(isinstance(i, int) for i in receipt["entries"])
    assert receipt["checkpoint"].startswith("accord.example/ledger\n")
    # And it is the answer the README shows, up to the request id and the signatures.
    documented = readme_answer()
    assert answer["data"] == documented["data"]
    assert answer["errors"] == documented["errors"]
    assert receipt.keys() == documented["extensions"]["accord"].keys()
    assert len(receipt["entries"]) == len(documented["extensions"]["accord"]["entries"])
    return receipt["entries"]


def cosigned_checkpoint(base: str, data_dir: Path, size: int, wait: float = 60.0) -> int:
    """Wait (bounded) until the gateway serves a checkpoint of at least ``size`` entries that
    carries a valid cosignature by the demo's witness; returns that checkpoint's size."""
    log_key = keys.load_verifier(data_dir / "keys" / "log.pub")
    witness = keys.load_verifier(peer_home(data_dir) / "keys" / "witness.pub")
    assert witness.name == WITNESS_NAME
    deadline = time.monotonic() + wait
    seen = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/ledger/checkpoint", timeout=10) as response:
            seen = response.read().decode()
        latest = checkpoint.open_checkpoint(seen, log_key, "accord.example/ledger")
        body, signatures = checkpoint.split_note(seen)
        mine = [s for s in signatures if s.name == WITNESS_NAME]
        if latest.size >= size and mine:
            checkpoint.verify_cosignature(body, mine[0], witness)  # raises if forged
            return latest.size
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint of {size}+ entries cosigned by the witness:\n{seen}")


def test_readme_shows_the_query_the_demo_prints():
    assert readme_query() == FIRST_QUERY.query


def test_demo_answers_the_readme_query_and_stops_cleanly(tmp_path: Path):
    data_dir = tmp_path / "accord"
    with DemoRun(data_dir) as demo:
        url = demo.wait_ready()
        assert url == f"http://127.0.0.1:{demo.ports['gateway']}/graphql"
        assert FIRST_QUERY.query.strip() in demo.output
        # four agencies, the gateway and the health department's witness
        assert len(demo.servers()) == 6, demo.output
        assert f"checkpoints are cosigned by {WITNESS_NAME} (quorum 1)" in demo.output
        assert all(listening(port) for port in demo.ports.values())

        status, answer = post(url, readme_query(), demo.token(FIRST_QUERY.token))
        indexes = check_first_answer(status, answer)
        assert min(indexes) >= FOUNDING_ENTRIES
        # The witness copies the ledger and cosigns a checkpoint covering the receipt.
        base = url.removesuffix("/graphql")
        assert cosigned_checkpoint(base, data_dir, max(indexes) + 1) > max(indexes)

        school = next(q for q in SAMPLE_QUERIES if q.name == "school-and-court")
        status, answer = post(url, school.query, demo.token(school.token))
        assert status == 200, answer
        child = answer["data"]["person"]
        assert child["enrolment"]["school"] == Population().education("P000087").enrolment.school
        assert child["juvenileRecords"] is None
        assert [e["extensions"]["rule"] for e in answer["errors"]] == ["juvenile.sealed"]
        assert answer["errors"][0]["extensions"]["code"] == "POLICY_DENIED"

        history = next(q for q in SAMPLE_QUERIES if q.name == "my-history")
        status, answer = post(base + history.path, history.query, demo.token(history.token))
        assert status == 200, answer
        mine = answer["data"]["accord"]
        sources = {row["source"] for row in mine["accountingOfDisclosures"]["rows"]}
        assert sources == {"Department of Health", "Department of Human Services"}
        assert [c["id"] for c in mine["consents"]] == [f"demo-{SAMPLE_PERSON}"]

        audit = next(q for q in SAMPLE_QUERIES if q.name == "audit")
        status, answer = post(base + audit.path, audit.query, demo.token(audit.token))
        assert status == 200, answer
        denials = answer["data"]["accord"]["denials"]
        assert {d["rule"] for d in denials["items"]} == {"consent.required", "juvenile.sealed"}
        assert answer["data"]["accord"]["ledger"]["checkpoint"]["size"] > max(indexes)

        # The printed command for more tokens works as printed, from where the demo runs.
        command = next(line for line in demo.output.splitlines() if " keys token " in line)
        minted = subprocess.run(
            command.split("(see")[0], shell=True, cwd=ROOT, capture_output=True, text=True
        )
        assert minted.returncode == 0, minted.stderr
        status, answer = post(url, readme_query(), minted.stdout.strip())
        assert status == 200, answer  # accepted; an emergency without a justification:
        rules = {e["extensions"].get("rule") for e in answer["errors"]}
        assert "break_glass.justification" in rules, answer

        status, anonymous = post(url, readme_query())
        assert status == 401 and anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        assert demo.stop(signal.SIGINT) == 0
        assert demo.children() == []
        assert not any(listening(port) for port in demo.ports.values())

    recorded = ledger_entries(data_dir, 0)  # line i is the entry at index i
    assert {recorded[i]["type"] for i in indexes} == {"disclosure", "access.denied"}
    assert all(recorded[i]["author"] == "operator" for i in indexes)


def test_second_run_reuses_the_data_directory_and_reset_starts_fresh(tmp_path: Path):
    data_dir = tmp_path / "accord"
    with DemoRun(data_dir) as first:
        first.wait_ready()
        assert "(created)" in first.output
        token = first.token(FIRST_QUERY.token)
        assert first.stop(signal.SIGTERM) == 0
    founded = ledger_size(data_dir)
    assert founded == FOUNDING_ENTRIES
    log_key = (data_dir / "keys" / "log.pub").read_text()
    witness_key = (peer_home(data_dir) / "keys" / "witness.pub").read_text()

    with DemoRun(data_dir) as second:
        url = second.wait_ready()
        assert "(reused)" in second.output
        assert banner_value(second.output, r"(\d+) entries") == str(founded)
        # Keys were kept, so a token printed by the first run is still good.
        check_first_answer(*post(url, readme_query(), token))
        # The same witness, remembering what it cosigned before, cosigns the grown ledger.
        assert cosigned_checkpoint(url.removesuffix("/graphql"), data_dir, founded + 1) > founded
        assert second.stop(signal.SIGTERM) == 0
        assert second.children() == []
    assert ledger_size(data_dir) > founded  # the query was recorded, nothing else was added
    assert (data_dir / "keys" / "log.pub").read_text() == log_key

    with DemoRun(data_dir, "--reset") as third:
        url = third.wait_ready()
        assert "(created)" in third.output
        assert banner_value(third.output, r"(\d+) entries") == str(FOUNDING_ENTRIES)
        status, refused = post(url, readme_query(), token)  # signed by a key that is gone
        assert status == 401, refused
        # A fresh witness for the fresh ledger: the old one's memory went with --reset.
        assert cosigned_checkpoint(url.removesuffix("/graphql"), data_dir, FOUNDING_ENTRIES)
        assert third.stop(signal.SIGINT) == 0
    assert (data_dir / "keys" / "log.pub").read_text() != log_key
    assert (peer_home(data_dir) / "keys" / "witness.pub").read_text() != witness_key


def test_demo_on_a_postgresql_ledger(tmp_path: Path, postgres_url: str):
    data_dir = tmp_path / "accord"
    env = {"ACCORD_LEDGER_URL": postgres_url}
    with DemoRun(data_dir, env=env) as demo:
        url = demo.wait_ready()
        check_first_answer(*post(url, readme_query(), demo.token(FIRST_QUERY.token)))
        assert demo.stop() == 0
    assert not (data_dir / "ledger.db").exists()

    with DemoRun(data_dir, "--reset", env=env) as refused:  # a server database is not ours
        assert refused.finish() == 1
        assert "--reset only clears an embedded SQLite ledger" in refused.output
        assert refused.leftovers() == []
    assert (data_dir / "keys" / "log.key").exists()
