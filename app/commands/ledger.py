"""``accord ledger``: initialise, verify, inspect, prove, export and import the consent ledger.

Every sub-command reads the store named by ``ledger_url`` (default: a SQLite file in the data
directory). The log key lives in ``<data_dir>/keys/log.key`` (signer, mode 0600) and
``log.pub`` (verifier key, C2SP signed-note encoding).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.cli import CommandError
from app.settings import Settings
from ledger import checkpoint as notes
from ledger import keys, merkle
from ledger.entries import EntryError, decode_entry
from ledger.log import LedgerError, open_ledger
from ledger.store import StoreError
from ledger.verify import VerificationError, verify_store
from ledger.view import LogView

IMPORT_BATCH = 2000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ledger", help="verify, inspect, prove and export the ledger")
    commands = parser.add_subparsers(dest="ledger_command", metavar="ACTION")
    commands.required = True

    init = commands.add_parser("init", help="create the log key and an empty ledger store")
    init.set_defaults(handler=init_ledger)

    verify = commands.add_parser(
        "verify", help="recompute every entry, signature, tree hash and checkpoint"
    )
    verify.add_argument(
        "--key", help="log verifier key (text or file; default <data_dir>/keys/log.pub)"
    )
    verify.add_argument(
        "--trusted",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a checkpoint note obtained elsewhere that the log must contain (repeatable)",
    )
    verify.set_defaults(handler=verify_ledger)

    checkpoint = commands.add_parser("checkpoint", help="print the latest signed checkpoint")
    checkpoint.set_defaults(handler=print_checkpoint)

    proof = commands.add_parser("proof", help="print an inclusion or consistency proof as JSON")
    kinds = proof.add_subparsers(dest="proof_kind", metavar="KIND")
    kinds.required = True
    inclusion = kinds.add_parser("inclusion", help="audit path of one entry")
    inclusion.add_argument("index", type=int)
    inclusion.add_argument("--size", type=int, default=None, help="tree size (default: latest)")
    inclusion.set_defaults(handler=print_inclusion)
    consistency = kinds.add_parser("consistency", help="proof that OLD is a prefix of NEW")
    consistency.add_argument("old", type=int)
    consistency.add_argument("new", type=int)
    consistency.set_defaults(handler=print_consistency)

    export = commands.add_parser("export", help="write entries as JSON lines")
    export.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    export.add_argument("--start", type=int, default=0)
    export.add_argument("--end", type=int, default=None)
    export.set_defaults(handler=export_ledger)

    load = commands.add_parser(
        "import", help="append exported JSON lines to an empty store, re-checking every entry"
    )
    load.add_argument("file", type=Path)
    load.set_defaults(handler=import_ledger)


def keys_directory(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def log_signer(settings: Settings, create: bool = False) -> keys.Signer:
    directory = keys_directory(settings)
    try:
        if create:
            return keys.load_or_create(directory, "log", settings.log_origin)
        return keys.load_signer(directory / "log.key")
    except keys.KeyFormatError as exc:
        raise CommandError(str(exc)) from None


def log_verifier(settings: Settings, given: str | None = None) -> keys.Verifier:
    try:
        if given is None:
            path = keys_directory(settings) / "log.pub"
            if not path.exists():
                raise CommandError(f"no log key at {path}; pass --key or run `accord ledger init`")
            return keys.load_verifier(path)
        path = Path(given)
        return keys.load_verifier(path) if path.exists() else keys.parse_verifier(given)
    except keys.KeyFormatError as exc:
        raise CommandError(f"log key: {exc}") from None


def witness_verifiers(settings: Settings) -> list[keys.Verifier]:
    try:
        return [keys.parse_verifier(w.key) for w in settings.witnesses]
    except keys.KeyFormatError as exc:
        raise CommandError(f"witness key: {exc}") from None


def _view(settings: Settings) -> LogView:
    try:
        return LogView(settings.ledger_dsn)
    except (StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"cannot open the ledger at {settings.ledger_dsn}: {exc}") from None


def init_ledger(args: argparse.Namespace, settings: Settings) -> int:
    signer = log_signer(settings, create=True)

    async def run() -> str:
        async with open_ledger(settings.ledger_dsn, signer, settings.log_origin) as ledger:
            return await ledger.checkpoint()

    try:
        note = asyncio.run(run())
    except (StoreError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    print(f"log key: {signer.verifier.encode()}")
    print(f"store: {settings.ledger_dsn}")
    print(note, end="")
    return 0


def verify_ledger(args: argparse.Namespace, settings: Settings) -> int:
    verifier = log_verifier(settings, args.key)
    trusted = []
    for path in args.trusted:
        try:
            trusted.append(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read trusted checkpoint {path}: {exc.strerror}") from None
    try:
        report = verify_store(
            settings.ledger_dsn,
            verifier,
            origin=settings.log_origin,
            witnesses=witness_verifiers(settings),
            trusted=trusted,
        )
    except VerificationError as exc:
        raise CommandError(f"ledger does not verify: {exc}") from None
    except (StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"cannot read the ledger at {settings.ledger_dsn}: {exc}") from None
    summary = {
        "ok": True,
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "cosignatures": report.cosignatures,
        "root": base64.b64encode(report.root).decode(),
        "seconds": round(report.seconds, 3),
        "entries_per_second": round(report.rate),
    }
    print(json.dumps(summary))
    return 0


def print_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    with _view(settings) as view:
        print(view.checkpoint(), end="")
    return 0


def print_inclusion(args: argparse.Namespace, settings: Settings) -> int:
    with _view(settings) as view:
        try:
            size, proof = view.inclusion_proof(args.index, args.size)
            data = view.entries(args.index, args.index + 1)[0]
            root = view.root(size)
        except merkle.ProofError as exc:
            raise CommandError(str(exc)) from None
    result = {
        "index": args.index,
        "tree_size": size,
        "leaf_hash": base64.b64encode(merkle.leaf_hash(data)).decode(),
        "root": base64.b64encode(root).decode(),
        "proof": [base64.b64encode(h).decode() for h in proof],
    }
    print(json.dumps(result))
    return 0


def print_consistency(args: argparse.Namespace, settings: Settings) -> int:
    with _view(settings) as view:
        try:
            size, proof = view.consistency_proof(args.old, args.new)
            old_root, new_root = view.root(args.old), view.root(size)
        except merkle.ProofError as exc:
            raise CommandError(str(exc)) from None
    result = {
        "old_size": args.old,
        "new_size": size,
        "old_root": base64.b64encode(old_root).decode(),
        "new_root": base64.b64encode(new_root).decode(),
        "proof": [base64.b64encode(h).decode() for h in proof],
    }
    print(json.dumps(result))
    return 0


def export_ledger(args: argparse.Namespace, settings: Settings) -> int:
    out = args.output.open("wb") if args.output else sys.stdout.buffer
    try:
        with _view(settings) as view:
            end = view.size if args.end is None else min(args.end, view.size)
            position = max(args.start, 0)
            while position < end:
                chunk = view.entries(position, min(position + 5000, end))
                for data in chunk:
                    out.write(data + b"\n")
                position += len(chunk)
                if not chunk:
                    break
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    return 0


def import_ledger(args: argparse.Namespace, settings: Settings) -> int:
    signer = log_signer(settings, create=True)
    try:
        lines = args.file.read_bytes().splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(decode_entry(line))
        except (ValueError, EntryError) as exc:
            raise CommandError(f"{args.file}:{number}: {exc}") from None

    async def run() -> str:
        async with open_ledger(settings.ledger_dsn, signer, settings.log_origin) as ledger:
            if ledger.size:
                raise CommandError(
                    f"the store already holds {ledger.size} entries; import needs an empty one"
                )
            for start in range(0, len(entries), IMPORT_BATCH):
                try:
                    await ledger.append_all(entries[start : start + IMPORT_BATCH])
                except EntryError as exc:
                    raise CommandError(f"entries from line {start + 1}: {exc}") from None
            return await ledger.checkpoint()

    try:
        note = asyncio.run(run())
    except (StoreError, LedgerError, notes.CheckpointError) as exc:
        raise CommandError(str(exc)) from None
    print(f"imported {len(entries)} entries", file=sys.stderr)
    print(note, end="")
    return 0
