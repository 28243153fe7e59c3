"""`accord consent`, `accord contracts` and `accord decisions` against a real ledger file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.cli import main
from ledger import keys
from ledger.decisions import DecisionEngine, DecisionRequest, denial_body, disclosure_body
from ledger.entries import new_entry
from ledger.log import open_ledger
from ledger.registry import Registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"


@pytest.fixture
def accord(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCORD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ACCORD_CONFIG", raising=False)
    monkeypatch.delenv("ACCORD_LEDGER_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, expect: int = 0) -> str:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == expect, f"accord {' '.join(argv)} -> {code}\n{out}\n{err}"
        return out if code == 0 else err + out

    run.data = tmp_path / "data"  # type: ignore[attr-defined]
    return run


def test_contract_test_table_passes_for_the_starter_library(accord):
    out = accord("contracts", "test")
    assert "22 of 22 cases pass" in out


def test_contract_test_table_reports_failures(accord, tmp_path):
    cases = [
        {
            "name": "wrong on purpose",
            "expect": {"permit": True},
            "request": {"agency": "courts", "category": "health.diagnosis", "purpose": "TREAT"},
        }
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    out = accord("contracts", "test", "--cases", str(tmp_path / "cases.json"), expect=1)
    assert "FAIL wrong on purpose" in out and "0 of 1 cases pass" in out


def test_invalid_contract_directory_is_refused(accord, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "p.cedar").write_text(
        '@id("x") permit (principal, action, resource) when { principal.nope };'
    )
    schema = Path(__file__).resolve().parents[2] / "ledger/contracts/starter/schema.cedarschema"
    (tmp_path / "bad" / "s.cedarschema").write_text(schema.read_text())
    err = accord("contracts", "test", str(tmp_path / "bad"), expect=1)
    assert "do not validate against the schema" in err and "nope" in err


def test_governance_and_consent_lifecycle(accord):
    for agency in ("health", "education", "human_services"):
        accord("contracts", "admit", agency)
    err = accord("contracts", "admit", "health", expect=1)
    assert "already admitted" in err
    proposed = json.loads(accord("contracts", "propose", "--agency", "health"))
    short = proposed["hash"][:12]
    assert "part2.consent" in proposed["rules"]
    assert "2 member agencies must approve" in accord("contracts", "activate", short, expect=1)
    accord("contracts", "approve", short, "--agency", "health")
    assert "already approved" in accord(
        "contracts", "approve", short, "--agency", "health", expect=1
    )
    assert "no key for member 'courts'" in accord(
        "contracts", "approve", short, "--agency", "courts", expect=1
    )
    status = json.loads(accord("contracts", "approve", short, "--agency", "education"))
    assert status["approvals"] == ["education", "health"] and not status["active"]
    active = json.loads(accord("contracts", "activate", short))
    assert active["active"] and active["hash"] == proposed["hash"]

    granted = json.loads(
        accord(
            "consent",
            "grant",
            "--agency",
            "human_services",
            "--subject-id",
            "person-1",
            "--grantee",
            "education",
            "--category",
            "human_services.benefits",
            "--purpose",
            "COC",
        )
    )
    assert len(granted["subject"]) == 64 and "person-1" not in json.dumps(granted)
    assert "unknown data category" in accord(
        "consent",
        "grant",
        "--agency",
        "health",
        "--subject-id",
        "person-1",
        "--grantee",
        "education",
        "--category",
        "health.dna",
        expect=1,
    )
    imported = json.loads(
        accord(
            "consent",
            "grant",
            "--agency",
            "health",
            "--fhir",
            str(FIXTURES / "consent-part2-treatment.json"),
            "--subject-id",
            "person-1",
        )
    )
    assert imported["consent_id"] == "consent-example-42cfrpart2"
    assert json.loads(accord("consent", "show", "--subject-id", "nobody")) == []
    from ledger import store

    engine = store.make_engine(f"sqlite:///{accord.data / 'ledger.db'}")
    with engine.connect() as connection:
        secrets = connection.execute(store.secrets_table.select()).all()
    engine.dispose()
    assert [row[0] for row in secrets] == ["person-1"]  # looking up "nobody" minted nothing
    shown = json.loads(accord("consent", "show", "--subject-id", "person-1"))
    assert {s["consent"]["id"] for s in shown} == {granted["consent_id"], imported["consent_id"]}
    fhir = json.loads(accord("consent", "show", imported["consent_id"], "--fhir"))
    assert fhir["resourceType"] == "Consent" and fhir["decision"] == "deny"

    revoked = json.loads(
        accord("consent", "revoke", granted["consent_id"], "--agency", "human_services")
    )
    again = accord(
        "consent", "revoke", granted["consent_id"], "--agency", "human_services", expect=1
    )
    assert "already revoked" in again
    after = json.loads(accord("consent", "show", granted["consent_id"]))
    assert after["revoked_index"] == revoked["revoked_index"]
    before = json.loads(
        accord("consent", "show", granted["consent_id"], "--as-of", str(revoked["revoked_index"]))
    )
    assert before["revoked_index"] is None
    assert "member.admitted entry" in accord("decisions", "replay", "0", expect=1)


def test_decisions_replay_honest_and_doctored(accord):
    for agency in ("health", "education", "human_services"):
        accord("contracts", "admit", agency)
    short = json.loads(accord("contracts", "propose", "--agency", "health"))["hash"][:12]
    accord("contracts", "approve", short, "--agency", "health")
    accord("contracts", "approve", short, "--agency", "education")
    accord("contracts", "activate", short)
    subject = json.loads(
        accord(
            "consent",
            "grant",
            "--agency",
            "human_services",
            "--subject",
            "ab" * 32,
            "--grantee",
            "education",
        )
    )["subject"]

    async def record() -> tuple[int, int, int]:
        signer = keys.load_signer(accord.data / "keys" / "log.key")
        registry = Registry()
        url = f"sqlite:///{accord.data / 'ledger.db'}"
        async with open_ledger(
            url, signer, "accord.example/ledger", on_commit=[registry.on_commit]
        ) as ledger:
            registry.load_from(url)
            request = DecisionRequest(
                "education",
                "school",
                "u",
                (),
                "COC",
                subject,
                "human_services",
                "human_services.benefits",
            )
            now = datetime.now(UTC)
            decisions = DecisionEngine(registry.state).decide([request], at=now)
            assert decisions[0].permit
            common = dict(
                request_id="r",
                fields=["benefits"],
                query_hash="q",
                decided_at=int(now.timestamp() * 1000),
            )
            honest = disclosure_body(request, decisions, [request.category], **common)
            stranger = DecisionRequest(
                "education",
                "school",
                "u",
                (),
                "COC",
                "cd" * 32,
                "human_services",
                "human_services.benefits",
            )
            refusal = DecisionEngine(registry.state).decide([stranger], at=now)[0]
            denied = denial_body(stranger, refusal, [stranger.category], **common)
            doctored = dict(honest, subject="cd" * 32)
            receipts = await ledger.append_all(
                [
                    new_entry("disclosure", honest),
                    new_entry("access.denied", denied),
                    new_entry("disclosure", doctored),
                ]
            )
            return tuple(r.index for r in receipts)  # type: ignore[return-value]

    honest, denied, doctored = asyncio.run(record())
    assert json.loads(accord("decisions", "replay", str(honest)))["match"] is True
    assert json.loads(accord("decisions", "replay", str(denied), "--from-log"))["match"] is True
    report = json.loads(accord("decisions", "replay", str(doctored), expect=1))
    assert report["match"] is False and report["differences"]


def test_consent_flags_refuse_a_partial_denial(accord):
    accord("contracts", "admit", "health")
    err = accord(
        "consent",
        "grant",
        "--agency",
        "health",
        "--subject",
        "ab" * 32,
        "--grantee",
        "education",
        "--decision",
        "deny",
        "--category",
        "health",
        expect=1,
    )
    assert "cannot be built from flags" in err
    assert "name at least one --grantee" in accord(
        "consent", "grant", "--agency", "health", "--subject", "ab" * 32, expect=1
    )
    assert "bad.json" in accord(
        "consent", "grant", "--agency", "health", "--fhir", "bad.json", expect=1
    )
