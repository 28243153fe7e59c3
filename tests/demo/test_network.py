"""The demo's founding ledger entries, on a real ledger (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.demo.network import DemoError, bootstrap, planned_consents
from app.demo.samples import SAMPLE_PERSON
from app.settings import load_settings
from examples.people import Population
from ledger import keys, pseudonym, store
from ledger.contracts.model import STARTER_DIR, load_library
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.registry import Registry
from ledger.verify import verify_store

PEOPLE = Population()


def settings_for(data_dir: Path, ledger_url: str = "", **extra):
    return load_settings(data_dir=data_dir, ledger_url=ledger_url, **extra)


def registry_and_pseudonyms(url: str, people: list[str]) -> tuple[Registry, dict[str, str]]:
    registry = Registry(2)
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            registry.load(connection)
            names = {p: pseudonym.pseudonym(p, pseudonym.secret_for(connection, p)) for p in people}
    finally:
        engine.dispose()
    return registry, names


def verify(settings):
    verifier = keys.load_verifier(settings.data_dir / "keys" / "log.pub")
    return verify_store(settings.ledger_dsn, verifier)


def check_network(settings, consents: int) -> None:
    state = bootstrap(settings, PEOPLE, consents)
    assert state.written == 4 + 1 + 2 + 1 + consents
    assert state.members == ("health", "education", "human_services", "courts")
    assert state.approvals == ("health", "education")
    assert state.consents == consents

    again = bootstrap(settings, PEOPLE, consents)
    assert again.written == 0 and again.entries == state.entries

    registry, names = registry_and_pseudonyms(settings.ledger_dsn, [SAMPLE_PERSON, "P000087"])
    ledger_state = registry.state
    assert ledger_state.contract is not None and ledger_state.contract.hash == state.contract
    for record in ledger_state.consents.values():
        assert record.consent.subject not in {p.person for p in planned_consents(PEOPLE)}
        assert record.signer == record.author  # signed by the agency that recorded it
    assert [r.consent.id for r in ledger_state.subject_consents(names[SAMPLE_PERSON])] == [
        f"demo-{SAMPLE_PERSON}"
    ]


def test_founding_entries_are_written_once_and_verify(tmp_path: Path):
    settings = settings_for(tmp_path)
    check_network(settings, 40)
    report = verify(settings)
    assert report.entries == 48


def test_founding_entries_on_postgresql(tmp_path: Path, postgres_url: str):
    check_network(settings_for(tmp_path, postgres_url), 12)


def test_the_sample_people_get_the_documented_decisions(tmp_path: Path):
    settings = settings_for(tmp_path)
    bootstrap(settings, PEOPLE, 100)
    registry, names = registry_and_pseudonyms(settings.ledger_dsn, [SAMPLE_PERSON, "P000087"])
    engine = DecisionEngine(registry.state)

    def ask(agency, kind, purpose, person, provider, category):
        request = DecisionRequest(
            agency, kind, "u", ("case_worker",), purpose, names[person], provider, category
        )
        return engine.decide([request])[0]

    health = ("health", "health_provider", "TREAT", SAMPLE_PERSON)
    assert ask(*health, "human_services", "identity.basic").permit
    assert ask(*health, "health", "health.diagnosis").permit
    benefits = ask(*health, "human_services", "human_services.benefits")
    assert not benefits.permit and benefits.code == "CONSENT_REQUIRED"

    child = ("human_services", "human_services", "COC", "P000087")
    assert PEOPLE.person("P000087").is_minor
    assert PEOPLE.education("P000087").enrolment is not None
    assert any(r.sealed for r in PEOPLE.courts("P000087").juvenile_records)
    assert ask(*child, "education", "education.enrolment").permit
    sealed = ask(*child, "courts", "court.juvenile")
    assert not sealed.permit and (sealed.code, sealed.rule) == ("POLICY_DENIED", "juvenile.sealed")


def test_a_changed_contract_library_is_proposed_approved_and_activated(tmp_path: Path):
    settings = settings_for(tmp_path / "data")
    first = bootstrap(settings, PEOPLE, 4)
    library = tmp_path / "starter"
    shutil.copytree(STARTER_DIR, library)
    policy = library / "00-consent.cedar"
    policy.write_text(policy.read_text() + "\n// amended\n")
    amended = load_library(library, "starter", 2)
    assert amended.hash != first.contract

    second = bootstrap(settings, PEOPLE, 4, contract=amended)
    assert second.written == 4  # proposal, two approvals, activation
    assert second.contract == amended.hash
    registry, _ = registry_and_pseudonyms(settings.ledger_dsn, [])
    assert registry.state.contract.hash == amended.hash
    assert bootstrap(settings, PEOPLE, 4, contract=amended).written == 0


def test_more_approvals_than_members_is_refused_before_writing(tmp_path: Path):
    settings = settings_for(tmp_path, contract_approvals_required=5)
    with pytest.raises(DemoError, match="contract_approvals_required is 5"):
        bootstrap(settings, PEOPLE, 4)
    assert not (tmp_path / "ledger.db").exists()


def test_a_member_key_replaced_behind_the_ledgers_back_is_refused(tmp_path: Path):
    settings = settings_for(tmp_path)
    before = bootstrap(settings, PEOPLE, 4)
    members = tmp_path / "keys" / "members"
    for path in members.glob("courts.*"):
        path.unlink()
    with pytest.raises(DemoError, match="courts.*another key.*--reset"):
        bootstrap(settings, PEOPLE, 4)
    assert verify(settings).entries == before.entries
