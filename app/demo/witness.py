"""The demo's witness: the health department's ledger peer, cosigning every checkpoint.

A real network has each partner agency run ``accord peer`` on its own machine; the demo runs
one for the health department beside the gateway so that checkpoints are final, with a
cosignature anyone can check. Everything the peer keeps (its witness key, its verified copy of
the ledger, the last checkpoint it cosigned) lives under ``<data_dir>/demo/health-peer``, so
``--reset`` clears it together with the ledger it copied: a peer that remembered a ledger
which no longer exists would rightly refuse to cosign the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.demo.network import DemoError
from app.settings import Settings
from ledger import keys

AGENCY = "health"
WITNESS_NAME = "witness.health.example"
# Seconds between the peer's rounds: a checkpoint is cosigned within about this long.
ROUND_SECONDS = 2.0


@dataclass(frozen=True)
class DemoWitness:
    """Where the demo's peer keeps its state, and the verifier key the gateway trusts."""

    home: Path  # the peer's data directory
    key_file: Path
    verifier: str

    @property
    def name(self) -> str:
        return WITNESS_NAME


def peer_home(data_dir: Path) -> Path:
    return data_dir / "demo" / f"{AGENCY}-peer"


def ensure_witness(data_dir: Path) -> DemoWitness:
    """The health department's witness key, created on the first run and reused after."""
    home = peer_home(data_dir)
    key_file = home / "keys" / "witness.key"
    try:
        if key_file.exists():
            signer = keys.load_signer(key_file)
        else:
            signer = keys.generate(WITNESS_NAME, keys.ALG_COSIGNATURE_V1)
            keys.save(signer, key_file.parent, "witness")
    except (keys.KeyFormatError, OSError) as exc:
        raise DemoError(f"the demo's witness key: {exc}; or start fresh with --reset") from None
    if signer.alg != keys.ALG_COSIGNATURE_V1 or signer.name != WITNESS_NAME:
        raise DemoError(
            f"{key_file} is not the demo's {WITNESS_NAME} cosigning key; start fresh with --reset"
        )
    return DemoWitness(home=home, key_file=key_file, verifier=signer.verifier.encode())


def gateway_witnesses(settings: Settings, witness: DemoWitness) -> list[dict[str, Any]]:
    """The configured witnesses plus the demo's, as the gateway's ``witnesses`` setting."""
    merged = {w.name: w.model_dump(mode="json") for w in settings.witnesses}
    merged[witness.name] = {"name": witness.name, "key": witness.verifier}
    return list(merged.values())


def peer_args(gateway_url: str, data_dir: Path, witness: DemoWitness) -> list[str]:
    """``accord peer`` following the demo's gateway with the health department's key."""
    return [
        "peer",
        "--log",
        gateway_url,
        "--log-key",
        str(data_dir / "keys" / "log.pub"),
        "--witness-key",
        str(witness.key_file),
        "--interval",
        str(ROUND_SECONDS),
    ]
