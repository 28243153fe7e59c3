"""m-of-n activation: a proposed contract becomes active once enough members approved it.

The approvals are ``contract.approved`` entries signed by member agencies; activation is an
operator entry that lists their ledger indexes, so anyone can check from the log alone that
the configured number of distinct members approved exactly this contract hash.
"""

from __future__ import annotations

from ledger.entries import Entry, new_entry
from ledger.registry import LedgerState, StateError


def activation_entry(state: LedgerState, contract_hash: str) -> Entry:
    """The ``contract.activated`` entry for ``contract_hash``, or :class:`StateError` saying
    why the contract cannot be activated yet."""
    matches = [h for h in state.contracts if h.startswith(contract_hash)] if contract_hash else []
    if len(matches) != 1:
        what = "no" if not matches else "more than one"
        raise StateError(f"{what} proposed contract matches hash {contract_hash!r}")
    record = state.contracts[matches[0]]
    body = {"hash": matches[0], "approvals": sorted(record.approvals.values())}
    state.check("contract.activated", body, "operator")
    return new_entry("contract.activated", body)


def approval_status(state: LedgerState, contract_hash: str) -> dict[str, object]:
    """Who approved a proposed contract, how many approvals it needs, and whether it is active."""
    record = state.contracts.get(contract_hash)
    if record is None:
        raise StateError(f"no proposed contract has hash {contract_hash[:16]}")
    return {
        "contract": record.contract.name,
        "version": record.contract.version,
        "hash": contract_hash,
        "approvals": sorted(record.approvals),
        "required": state.approvals_required,
        "active": state.active is record,
        "activated_index": record.activated_index,
    }
