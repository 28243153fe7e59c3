"""``accord contracts``: admit member agencies, propose, approve, activate and test contracts.

Member agencies sign what they write with their own key, kept at
``<data_dir>/keys/members/<agency>.key`` (or given with ``--key``); ``accord contracts admit``
creates it. Activation is written by the log operator once the configured number of distinct
members (``contract_approvals_required``) approved the contract's hash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.cli import CommandError
from app.commands.ledger import keys_directory, log_signer
from app.settings import Settings
from ledger import keys, store
from ledger.contracts.activation import activation_entry, approval_status
from ledger.contracts.cases import load_cases, run_cases
from ledger.contracts.model import STARTER_DIR, ContractError, load_library
from ledger.entries import Entry, EntryError, new_entry, sign_entry
from ledger.log import LedgerError, open_ledger
from ledger.registry import LedgerState, Registry, StateError
from ledger.store import StoreError
from ledger.vocabulary import AGENCY_KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "contracts", help="admit members; propose, approve, activate and test statute contracts"
    )
    commands = parser.add_subparsers(dest="contracts_command", metavar="ACTION")
    commands.required = True

    admit = commands.add_parser("admit", help="admit a member agency (creates its key)")
    admit.add_argument("agency", help="agency id, e.g. health")
    admit.add_argument("--kind", choices=sorted(set(AGENCY_KINDS.values())), default=None)
    admit.add_argument("--name", help="display name (default: the id)")
    admit.add_argument("--key", type=Path, help="the agency's key file (default: created)")
    admit.set_defaults(handler=admit_member)

    propose = commands.add_parser("propose", help="propose a contract from a directory")
    _library_arguments(propose)
    _member_arguments(propose)
    propose.set_defaults(handler=propose_contract)

    approve = commands.add_parser("approve", help="approve a proposed contract as a member")
    approve.add_argument("hash", help="the contract hash (a unique prefix will do)")
    _member_arguments(approve)
    approve.set_defaults(handler=approve_contract)

    activate = commands.add_parser("activate", help="activate a contract with enough approvals")
    activate.add_argument("hash", help="the contract hash (a unique prefix will do)")
    activate.set_defaults(handler=activate_contract)

    show = commands.add_parser("show", help="the active contract and every proposal, as JSON")
    show.set_defaults(handler=show_contracts)

    test = commands.add_parser("test", help="run a contract against a table of example requests")
    _library_arguments(test)
    test.add_argument(
        "--cases", type=Path, help="JSON table of cases (default: the directory's cases.json)"
    )
    test.set_defaults(handler=run_contract_tests)


def _library_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=STARTER_DIR,
        help="directory of *.cedar policies and one .cedarschema (default: the starter library)",
    )
    parser.add_argument("--name", default=None, help="contract name (default: directory name)")
    parser.add_argument("--version", type=int, default=1, help="contract version (default 1)")


def _member_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agency", required=True, help="the member agency that signs")
    parser.add_argument("--key", type=Path, help="its key file (default: the data directory's)")


# -- shared with the consent and decisions commands --------------------------------------------


def member_key_path(settings: Settings, agency: str) -> Path:
    return keys_directory(settings) / "members" / f"{agency}.key"


def member_signer(settings: Settings, agency: str, given: Path | None = None) -> keys.Signer:
    path = given or member_key_path(settings, agency)
    if not path.exists():
        raise CommandError(
            f"no key for member {agency!r} at {path}; run `accord contracts admit {agency}` "
            "or pass --key"
        )
    try:
        return keys.load_signer(path)
    except keys.KeyFormatError as exc:
        raise CommandError(f"member key {path}: {exc}") from None


def read_state(settings: Settings) -> LedgerState:
    """The registry state now, from the index tables (rebuilt first if they lag the log)."""
    registry = Registry(settings.contract_approvals_required)
    try:
        engine = store.make_engine(settings.ledger_dsn)
        try:
            with engine.connect() as connection, connection.begin():
                store.check_schema(connection)
                registry.load(connection)
        finally:
            engine.dispose()
    except (StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"cannot read the ledger at {settings.ledger_dsn}: {exc}") from None
    return registry.state


def append(settings: Settings, build: Callable[[LedgerState], list[Entry]]) -> list[int]:
    """Append the entries ``build`` makes from the current state; returns their indexes.

    The registry hook runs inside the log's transaction, so an entry that breaks a registry
    rule is refused with nothing recorded."""
    signer = log_signer(settings, create=True)
    registry = Registry(settings.contract_approvals_required)

    async def run() -> list[int]:
        async with open_ledger(
            settings.ledger_dsn, signer, settings.log_origin, on_commit=[registry.on_commit]
        ) as ledger:
            registry.load_from(settings.ledger_dsn)
            entries = build(registry.state)
            return [receipt.index for receipt in await ledger.append_all(entries)]

    try:
        return asyncio.run(run())
    except (EntryError, StateError, ContractError) as exc:
        raise CommandError(f"refused, nothing recorded: {exc}") from None
    except (LedgerError, StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"ledger: {exc}") from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


# -- handlers ---------------------------------------------------------------------------------


def admit_member(args: argparse.Namespace, settings: Settings) -> int:
    kind = args.kind or AGENCY_KINDS.get(args.agency)
    if kind is None:
        raise CommandError(f"--kind is required for agency {args.agency!r}")
    if args.key:
        signer = member_signer(settings, args.agency, args.key)
    else:
        try:
            signer = keys.load_or_create(
                member_key_path(settings, args.agency).parent, args.agency, args.agency
            )
        except keys.KeyFormatError as exc:
            raise CommandError(str(exc)) from None
    body = {
        "member": args.agency,
        "name": args.name or args.agency,
        "kind": kind,
        "key": keys.public_b64(signer),
    }
    entry = sign_entry(new_entry("member.admitted", body, author=args.agency), signer)
    (index,) = append(settings, lambda state: [entry])
    print_json({"member": args.agency, "kind": kind, "index": index})
    return 0


def _library(args: argparse.Namespace):
    name = args.name or (
        "starter" if args.directory.resolve() == STARTER_DIR else args.directory.name
    )
    try:
        return load_library(args.directory, name, args.version)
    except ContractError as exc:
        raise CommandError(str(exc)) from None


def propose_contract(args: argparse.Namespace, settings: Settings) -> int:
    contract = _library(args)
    signer = member_signer(settings, args.agency, args.key)
    entry = sign_entry(new_entry("contract.proposed", contract.body(), author=args.agency), signer)
    (index,) = append(settings, lambda state: [entry])
    print_json(
        {
            "contract": contract.name,
            "version": contract.version,
            "hash": contract.hash,
            "rules": contract.rule_ids(),
            "index": index,
        }
    )
    return 0


def _full_hash(state: LedgerState, prefix: str) -> str:
    matches = [h for h in state.contracts if h.startswith(prefix)] if prefix else []
    if len(matches) != 1:
        what = "no" if not matches else "more than one"
        raise CommandError(f"{what} proposed contract matches hash {prefix!r}")
    return matches[0]


def approve_contract(args: argparse.Namespace, settings: Settings) -> int:
    signer = member_signer(settings, args.agency, args.key)
    full = _full_hash(read_state(settings), args.hash)
    body = {"hash": full, "member": args.agency}
    entry = sign_entry(new_entry("contract.approved", body, author=args.agency), signer)
    (index,) = append(settings, lambda state: [entry])
    status = approval_status(read_state(settings), full)
    print_json({**status, "index": index})
    return 0


def activate_contract(args: argparse.Namespace, settings: Settings) -> int:
    def build(state: LedgerState) -> list[Entry]:
        return [activation_entry(state, args.hash)]

    (index,) = append(settings, build)
    state = read_state(settings)
    print_json({**approval_status(state, state.contract.hash), "index": index})  # type: ignore[union-attr]
    return 0


def show_contracts(args: argparse.Namespace, settings: Settings) -> int:
    state = read_state(settings)
    print_json(
        {
            "active": state.contract.hash if state.contract else None,
            "approvals_required": state.approvals_required,
            "contracts": [approval_status(state, h) for h in state.contracts],
            "ledger_index": state.index,
        }
    )
    return 0


def run_contract_tests(args: argparse.Namespace, settings: Settings) -> int:
    contract = _library(args)
    path = args.cases or args.directory / "cases.json"
    try:
        results = run_cases(contract, load_cases(path))
    except ContractError as exc:
        raise CommandError(str(exc)) from None
    failed = [r for r in results if not r.passed]
    for result in results:
        mark = "ok  " if result.passed else "FAIL"
        line = f"{mark} {result.name}"
        if not result.passed:
            line += f"\n     expected {json.dumps(result.expected, sort_keys=True)}"
            line += f"\n     got      {json.dumps(result.actual, sort_keys=True)}"
        print(line)
    print(f"{len(results) - len(failed)} of {len(results)} cases pass (contract {contract.hash})")
    return 1 if failed else 0
