"""Statute contracts in Cedar: the model, the starter library and m-of-n activation."""

from ledger.contracts.model import (
    NO_FACTS,
    Contract,
    ContractError,
    Facts,
    Shape,
    Verdict,
    compile_contract,
    contract_from_body,
    load_library,
    starter_contract,
)

__all__ = [
    "NO_FACTS",
    "Contract",
    "ContractError",
    "Facts",
    "Shape",
    "Verdict",
    "compile_contract",
    "contract_from_body",
    "load_library",
    "starter_contract",
]
