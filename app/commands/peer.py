"""``accord peer``: a partner agency's ledger peer (witness), its key, and split-view checks.

``accord peer --log URL --log-key VKEY [--once]`` follows the log and cosigns what verifies
(see :mod:`app.peer`); ``accord peer keys --name NAME`` creates the agency's witness key and
prints the line for the gateway's ``witnesses`` setting; ``accord peer compare A B`` says
whether two signed checkpoints of one log are consistent and names the conflict otherwise.

Exit status: 0 done, 1 error (log unreachable, bad configuration), 3 refused (the log
misbehaved; the evidence is kept under ``<data_dir>/peer/evidence``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.exc import SQLAlchemyError

from app import peer
from app.cli import CommandError
from app.settings import Settings
from ledger import checkpoint as notes
from ledger import keys, merkle
from ledger.store import StoreError
from ledger.view import LogView

EXIT_REFUSED = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "peer", help="follow the ledger, keep a verified copy and cosign checkpoints"
    )
    _log_options(parser)
    parser.add_argument(
        "--witness-key",
        type=Path,
        help="witness signer key file (default data_dir/keys/witness.key)",
    )
    parser.add_argument(
        "--store", help="SQLAlchemy URL of this peer's copy (default data_dir/peer/ledger.db)"
    )
    parser.add_argument("--interval", type=float, help="seconds between rounds (default 10)")
    parser.add_argument("--once", action="store_true", help="one round, then exit with its status")
    parser.add_argument(
        "--compare-with",
        action="append",
        default=None,
        metavar="NOTE",
        help="another peer's published cosigned checkpoint (URL or file) to compare with after "
        "each round (repeatable; peer_compare_with)",
    )
    parser.set_defaults(handler=run_peer)
    commands = parser.add_subparsers(dest="peer_command", metavar="ACTION")

    create = commands.add_parser("keys", help="create this agency's witness key")
    create.add_argument("--name", required=True, help="key name, e.g. witness.health.example")
    create.add_argument(
        "--dir", type=Path, help="directory for witness.key/.pub (default data_dir/keys)"
    )
    create.set_defaults(handler=create_keys)

    compare = commands.add_parser(
        "compare", help="are two signed checkpoints of the same log consistent?"
    )
    compare.add_argument("note_a", type=Path, metavar="NOTE_A")
    compare.add_argument("note_b", type=Path, metavar="NOTE_B")
    _log_options(compare)
    compare.add_argument(
        "--store", help="take the consistency proof from this copy instead of from --log"
    )
    compare.set_defaults(handler=compare_notes)


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", dest="log_url", help="the gateway's base URL (peer_log_url)")
    parser.add_argument("--origin", help="the log's origin line (default log_origin)")
    parser.add_argument(
        "--log-key", help="the log's verifier key, as text or a file (peer_log_key)"
    )


def _state_dir(settings: Settings) -> Path:
    return settings.data_dir / "peer"


def _log_key(args: argparse.Namespace, settings: Settings) -> keys.Verifier:
    given = args.log_key or settings.peer_log_key
    if not given:
        raise CommandError("the log's verifier key is needed: pass --log-key or set peer_log_key")
    try:
        path = Path(given)
        key = keys.load_verifier(path) if path.is_file() else keys.parse_verifier(given)
    except (keys.KeyFormatError, OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"log key: {exc}") from None
    if key.alg != keys.ALG_ED25519:
        raise CommandError("log key: a log signs checkpoints with an Ed25519 (0x01) key")
    return key


def _config(args: argparse.Namespace, settings: Settings) -> peer.PeerConfig:
    log_url = args.log_url or settings.peer_log_url
    if not log_url:
        raise CommandError("the log's URL is needed: pass --log or set peer_log_url")
    if not log_url.startswith(("http://", "https://")):
        raise CommandError(f"--log must be an http(s) URL, not {log_url!r}")
    witness_path = (
        args.witness_key or settings.peer_witness_key or settings.data_dir / "keys/witness.key"
    )
    try:
        witness = keys.load_signer(witness_path)
    except keys.KeyFormatError as exc:
        raise CommandError(f"witness key: {exc} (create one with `accord peer keys`)") from None
    if witness.alg != keys.ALG_COSIGNATURE_V1:
        raise CommandError(
            "witness key: not a cosignature/v1 key; create one with `accord peer keys`"
        )
    state_dir = _state_dir(settings)
    store_url = args.store or settings.peer_store_url
    if not store_url:
        store_url = f"sqlite:///{(state_dir / 'ledger.db').resolve()}"
    return peer.PeerConfig(
        log_url=log_url,
        origin=args.origin or settings.log_origin,
        log_key=_log_key(args, settings),
        witness=witness,
        store_url=store_url,
        state_dir=state_dir,
        compare_with=tuple(
            args.compare_with if args.compare_with is not None else settings.peer_compare_with
        ),
    )


def _say(line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} accord peer: {line}", file=sys.stderr, flush=True)


def run_peer(args: argparse.Namespace, settings: Settings) -> int:
    config = _config(args, settings)
    interval = args.interval if args.interval is not None else settings.peer_interval_seconds
    if interval <= 0:
        raise CommandError("--interval must be positive")
    try:
        return asyncio.run(peer.run(config, interval, args.once, _say))
    except peer.PeerError as exc:
        raise CommandError(str(exc)) from None


def create_keys(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.dir or settings.data_dir / "keys"
    try:
        signer = keys.generate(args.name, keys.ALG_COSIGNATURE_V1)
        private, public = keys.save(signer, directory, "witness")
    except keys.KeyFormatError as exc:
        raise CommandError(str(exc)) from None
    verifier = signer.verifier.encode()
    print(f"witness key: {private} (keep it secret); verifier key: {public}", file=sys.stderr)
    print(verifier)
    print("# for the gateway's accord.toml:", file=sys.stderr)
    print(
        f"# [[witnesses]]\n# name = {json.dumps(signer.name)}\n# key = {json.dumps(verifier)}",
        file=sys.stderr,
    )
    return 0


def compare_notes(args: argparse.Namespace, settings: Settings) -> int:
    log_key = _log_key(args, settings)
    texts = []
    for path in (args.note_a, args.note_b):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
    try:
        witnesses = [keys.parse_verifier(w.key) for w in settings.witnesses]
    except keys.KeyFormatError as exc:
        raise CommandError(f"witness key: {exc}") from None
    origin = args.origin or settings.log_origin
    log_url = args.log_url or settings.peer_log_url

    async def run() -> peer.Comparison:
        if args.store:
            with LogView(args.store) as copy:

                async def from_copy(old: int, new: int) -> list[bytes]:
                    return copy.consistency_proof(old, new)[1]

                return await peer.compare(texts[0], texts[1], log_key, origin, from_copy, witnesses)
        if not log_url:
            return await peer.compare(texts[0], texts[1], log_key, origin, None, witnesses)
        async with httpx.AsyncClient(timeout=30.0) as http:
            client = peer.LogClient(log_url, http)
            return await peer.compare(
                texts[0], texts[1], log_key, origin, client.consistency, witnesses
            )

    try:
        result = asyncio.run(run())
    except notes.CheckpointError as exc:
        raise CommandError(f"checkpoint refused: {exc}") from None
    except (peer.PeerError, merkle.ProofError) as exc:
        raise CommandError(str(exc)) from None
    except (StoreError, SQLAlchemyError) as exc:
        raise CommandError(f"copy at {args.store}: {exc}") from None
    print(
        json.dumps(
            {
                "consistent": result.consistent,
                "message": result.message,
                "a": {"size": result.a.size, "cosigners": list(result.cosigners_a)},
                "b": {"size": result.b.size, "cosigners": list(result.cosigners_b)},
            }
        )
    )
    return 0 if result.consistent else EXIT_REFUSED
