"""Contracts: Cedar validation, annotations, and m-of-n activation through the log."""

from __future__ import annotations

import pytest

from ledger.contracts.activation import activation_entry, approval_status
from ledger.contracts.model import ContractError, compile_contract, starter_contract
from ledger.decisions import DecisionEngine, DecisionRequest
from ledger.entries import EntryError
from ledger.registry import StateError, index_snapshot
from tests.consent.network import NOW, Live, activation, pseudonym, starter_network

SCHEMA = starter_contract().schema
OPEN = '@id("all")\npermit (principal, action, resource);'


def test_invalid_cedar_is_refused_with_cedars_message():
    with pytest.raises(ContractError, match="invalid Cedar policies: unexpected end of input"):
        compile_contract("x", 1, "permit (principal, action, resource) when {", SCHEMA)


def test_policies_that_do_not_validate_against_the_schema_are_refused():
    bad = '@id("r")\npermit (principal, action, resource) when { principal.consent.agrees };'
    with pytest.raises(ContractError, match="do not validate against the schema: .*agrees"):
        compile_contract("x", 1, bad, SCHEMA)
    wrong_type = '@id("r")\npermit (principal, action, resource) when { principal.purpose == 3 };'
    with pytest.raises(ContractError, match="do not validate"):
        compile_contract("x", 1, wrong_type, SCHEMA)


def test_invalid_schema_is_refused():
    with pytest.raises(ContractError, match="invalid Cedar schema"):
        compile_contract("x", 1, OPEN, "namespace Accord { entity }")


@pytest.mark.parametrize(
    "policies, message",
    [
        ("permit (principal, action, resource);", "no @id"),
        (OPEN + "\n" + OPEN, "share the rule id"),
        ('@id("a") @colour("red")\npermit (principal, action, resource);', "unknown annotations"),
        ('@id("a") @silent("true")\npermit (principal, action, resource);', "only a forbid"),
        ('@id("a") @silent("yes")\nforbid (principal, action, resource);', "must be"),
        ("", "no policies"),
    ],
)
def test_ill_formed_contracts_are_refused(policies, message):
    with pytest.raises(ContractError, match=message):
        compile_contract("x", 1, policies, SCHEMA)


def test_contract_hash_covers_name_version_and_texts():
    a = compile_contract("x", 1, OPEN, SCHEMA)
    assert compile_contract("x", 1, OPEN, SCHEMA).hash == a.hash
    assert compile_contract("x", 2, OPEN, SCHEMA).hash != a.hash
    assert compile_contract("y", 1, OPEN, SCHEMA).hash != a.hash
    assert compile_contract("x", 1, OPEN + "\n", SCHEMA).hash != a.hash


def test_annotations_drive_obligations_and_silence():
    _, folded, contract = starter_network()
    rules = {a["id"]: a for a in contract.rules.values()}
    assert rules["part2.consent"]["silent"] == "true"
    assert "obligation" in rules["part2.redisclosure"]
    assert rules["break_glass.emergency"]["break_glass"] == "true"


def test_activation_needs_m_distinct_member_approvals_in_memory():
    network, folded, _ = starter_network(approvals_required=3)
    state = folded.state
    candidate = compile_contract("open", 1, OPEN, SCHEMA)
    folded.add(network.proposal(candidate, author="courts"))
    folded.add(network.approval(candidate, "courts"))
    with pytest.raises(StateError, match="already approved"):
        folded.add(network.approval(candidate, "courts"))
    folded.add(network.approval(candidate, "education"))
    with pytest.raises(StateError, match="has 2 approval"):
        activation_entry(state, candidate.hash)
    folded.add(network.approval(candidate, "health"))
    assert approval_status(state, candidate.hash)["approvals"] == ["courts", "education", "health"]
    folded.add(activation_entry(state, candidate.hash[:12]))
    assert state.contract.hash == candidate.hash
    with pytest.raises(StateError, match="already active"):
        activation_entry(state, candidate.hash)


@pytest.mark.anyio
async def test_m_of_n_activation_through_the_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    async with Live(url) as live:
        starter = await live.start()
        network = live.network
        candidate = compile_contract("open", 1, OPEN, SCHEMA)
        before = live.read(index_snapshot)

        async def refused(entry, message):
            size = live.ledger.size
            with pytest.raises(EntryError, match=message):
                await live.append(entry)
            assert live.ledger.size == size

        # Bad proposals: a hash that does not match, invalid Cedar.
        body = dict(candidate.body(), hash="0" * 64)
        await refused(network.signed("contract.proposed", body, "health"), "does not match")
        body = dict(candidate.body(), policies="permit (principal")
        await refused(network.signed("contract.proposed", body, "health"), "invalid Cedar")
        assert live.read(index_snapshot) == before

        await live.append(network.proposal(candidate, author="courts"))
        # Approval of an unknown contract, or by a party that is not a member.
        await refused(
            network.signed("contract.approved", {"hash": "f" * 64, "member": "courts"}, "courts"),
            "no proposed contract",
        )
        outsider = network.signed(
            "contract.approved", {"hash": candidate.hash, "member": "courts"}, "courts"
        )
        from dataclasses import replace

        await refused(
            replace(outsider, author="bakery", body={**outsider.body, "member": "bakery"}), "bakery"
        )
        first = await live.append(network.approval(candidate, "courts"))
        await refused(network.approval(candidate, "courts"), "already approved")
        # One approval of the two required: activation is refused.
        await refused(activation(candidate, [first]), "2 member agencies must approve")
        second = await live.append(network.approval(candidate, "human_services"))
        with pytest.raises(EntryError, match="each once"):
            activation(candidate, [first, first])
        await refused(activation(candidate, [second]), "exactly the entries")
        engine = DecisionEngine(live.registry.state)
        ask = DecisionRequest(
            "education",
            "school",
            "u",
            (),
            "COC",
            pseudonym("a"),
            "human_services",
            "human_services.benefits",
        )
        assert engine.decide([ask], at=NOW)[0].contract == starter.hash
        await live.append(activation(candidate, [first, second]))
        decision = engine.decide([ask], at=NOW)[0]
        assert decision.permit and decision.contract == candidate.hash


def test_a_schema_that_rejects_the_engines_requests_is_refused():
    # Valid on its own, but without the context attribute the engine always sends.
    narrowed = SCHEMA.replace("    court_order: Bool,\n", "")
    assert narrowed != SCHEMA
    with pytest.raises(ContractError, match="does not accept the requests Accord makes"):
        compile_contract("x", 1, OPEN, narrowed)
