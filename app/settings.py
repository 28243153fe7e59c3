"""The one typed settings object.

Every setting comes from ``accord.toml`` (or the file named by ``--config`` / ``ACCORD_CONFIG``)
or from an ``ACCORD_*`` environment variable; the environment wins over the file, and command
line flags win over both. Nothing else in Accord reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = Path("accord.toml")


class SettingsError(Exception):
    """A configuration problem, worded as one line that says what to do."""


class Issuer(BaseModel):
    """A trusted identity provider of one member agency."""

    agency: str
    issuer: str
    audience: str = "accord"
    # Where the provider publishes its signing keys: exactly one of a file or an http(s) URL.
    jwks_file: Path | None = None
    jwks_url: str | None = None
    # JWKS reloads (on an unknown key id, or when older than the max age) are never more
    # frequent than the minimum interval, so made-up key ids cannot hammer the provider.
    jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)
    jwks_max_age_seconds: float = Field(default=3600.0, gt=0)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_key_source(self) -> Issuer:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError(f"issuer {self.issuer}: set exactly one of jwks_file or jwks_url")
        return self


class Subgraph(BaseModel):
    """A partner agency's subgraph, for composition and health checks."""

    name: str
    url: str
    sdl_file: Path | None = None
    # Request timeout for this subgraph; unset means subgraph_timeout_seconds.
    timeout_seconds: float | None = Field(default=None, gt=0)


class Witness(BaseModel):
    """A partner agency peer whose cosignatures count towards checkpoint finality."""

    name: str
    key: str  # C2SP cosignature/v1 verifier key: name+keyhash+base64(0x04 || ed25519 public key)


class Settings(BaseSettings):
    """Accord's configuration. Field names map to ``ACCORD_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="forbid", frozen=True)

    # Where Accord keeps its state: keys, the embedded ledger, the demo data.
    data_dir: Path = Path(".accord")
    # SQLAlchemy URL of the ledger store; empty means a SQLite file in the data directory.
    ledger_url: str = ""

    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    supergraph: Path | None = None
    subgraphs: list[Subgraph] = []
    subgraph_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    # Operation limits checked before planning: nesting depth, aliases, fields (fragments
    # counted where they are spread).
    max_query_depth: int = Field(default=32, gt=0)
    max_query_aliases: int = Field(default=200, ge=0)
    max_query_fields: int = Field(default=5000, gt=0)

    # Ledger identity: the origin line of every checkpoint, and the witnesses that cosign.
    log_origin: str = "accord.example/ledger"
    witnesses: list[Witness] = []
    cosignature_quorum: int = Field(default=0, ge=0)

    # Ledger peer (accord peer), run by a partner agency: the log it follows (gateway base
    # URL), the log's verifier key (text or file), this agency's witness key file (default
    # data_dir/keys/witness.key), its own copy (empty: a SQLite file under data_dir/peer) and
    # the seconds between rounds. The origin is log_origin.
    peer_log_url: str = ""
    peer_log_key: str = ""
    peer_witness_key: Path | None = None
    peer_store_url: str = ""
    peer_interval_seconds: float = Field(default=10.0, gt=0)
    # Other peers' published cosigned checkpoints (URLs or files) to compare with each round.
    peer_compare_with: list[str] = []

    # Consent and contracts.
    default_consent_days: int = Field(default=365, gt=0)
    contract_approvals_required: int = Field(default=2, ge=1)
    dry_run: bool = False
    # Authenticate callers, enforce consent on every fetch and record disclosures on the
    # ledger. Off only to measure or debug plain federation; never in a deployment.
    enforcement: bool = True
    # The member agency whose key (data_dir/keys/members/<agency>.key) records the consents
    # people give and withdraw in the citizen view; empty means they cannot do so there.
    consent_recorder: str = ""

    # Identity.
    issuers: list[Issuer] = []
    token_leeway_seconds: int = Field(default=30, ge=0)

    # Demo agencies (accord agency): the gateway's public key (PEM or JWKS) their gateway
    # tokens are checked against; unset means the one `accord keys init` put in data_dir.
    agency_gateway_key: Path | None = None

    @property
    def ledger_dsn(self) -> str:
        """The ledger URL, defaulting to an embedded SQLite file under the data directory."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment must override them.
        return (env_settings, init_settings)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read the configuration file (if any), the environment, then ``overrides``.

    ``config`` names a file that must exist; without it ``ACCORD_CONFIG`` or ``./accord.toml``
    is read when present.
    """
    explicit = config is not None or "ACCORD_CONFIG" in os.environ
    path = config or Path(os.environ.get("ACCORD_CONFIG", DEFAULT_CONFIG_FILE))
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"configuration file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise SettingsError(f"cannot read configuration file {path}: {exc.strerror}") from None
    elif explicit:
        raise SettingsError(f"configuration file {path} does not exist; create it or drop --config")
    try:
        settings = Settings(**values)
        if overrides:
            settings = _Final(**{**settings.model_dump(), **overrides})
    except ValidationError as exc:
        raise SettingsError(f"invalid configuration ({path}): {_first_error(exc)}") from None
    return settings


class _Final(Settings):
    """Settings already resolved from file and environment, with command-line flags on top."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "settings"
    return f"{where}: {error['msg']}"
