"""A local identity provider for the demo network and for tests.

Each demo agency gets its own issuer with an Ed25519 signing key and a JWKS, kept under the
data directory so a second demo run reuses them and tokens printed earlier stay valid. The
provider mints the tokens a real agency's single sign-on would: a case worker acting for a
purpose, an auditor, a citizen looking at their own records, an agency administrator. The
JWKS can be served over HTTP on 127.0.0.1 so the gateway exercises the same URL path it uses
with a real provider.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.identity import (
    CLAIM_AGENCY,
    CLAIM_PURPOSE,
    CLAIM_PURPOSES,
    CLAIM_ROLES,
    CLAIM_SUBJECT,
    ROLE_AGENCY_ADMIN,
    ROLE_AUDITOR,
    ROLE_CASE_WORKER,
    ROLE_CITIZEN,
    ROLES,
    KeyFileError,
    ensure_signing_key,
    keys_dir,
    load_signing_key,
    okp_jwk,
    write_file_atomic,
)
from app.settings import Issuer
from ledger.vocabulary import AGENCY_KINDS, PURPOSES

# The oversight body whose auditors read the disclosure history, and the citizen portal where
# people sign in to see who saw their records; both are issuers alongside the member agencies.
OVERSIGHT = "oversight"
CITIZEN_PORTAL = "citizens"
DEMO_AGENCIES: tuple[str, ...] = (*AGENCY_KINDS, OVERSIGHT, CITIZEN_PORTAL)

# Purposes of use a case worker of each demo agency typically acts under.
DEMO_PURPOSES: dict[str, tuple[str, ...]] = {
    "health": ("TREAT", "ETREAT", "COC"),
    "education": ("COC",),
    "human_services": ("COC", "CAREMGT"),
    "courts": ("HLEGAL",),
}
CITIZEN_PURPOSE = "PATRQT"

DEFAULT_AUDIENCE = "accord"
DEFAULT_LIFETIME = 12 * 3600  # long enough for a demo session, still a real expiry
ISSUER_BASE = "https://demo.accord.example/idp"


def issuer_name(agency: str) -> str:
    return f"{ISSUER_BASE}/{agency}"


class DemoIdentityProvider:
    """Signing keys, JWKS files and token minting for the demo issuers under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        agencies: Iterable[str] = DEMO_AGENCIES,
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        self.directory = keys_dir(Path(data_dir)) / "idp"
        self.agencies = tuple(agencies)
        self.audience = audience
        self._keys: dict[str, tuple[str, ed25519.Ed25519PrivateKey]] = {}
        self._lock = threading.Lock()

    def key_path(self, agency: str) -> Path:
        return self.directory / f"{agency}.key.pem"

    def jwks_path(self, agency: str) -> Path:
        return self.directory / f"{agency}.jwks.json"

    def init(self) -> list[Path]:
        """Create every missing key and JWKS; returns the files created (none on a re-run)."""
        created: list[Path] = []
        for agency in self.agencies:
            created.extend(self._ensure(agency))
        return created

    def issuers(self, jwks_base_url: str | None = None) -> list[Issuer]:
        """The trusted-issuer settings for the demo issuers: JWKS files, or URLs under
        ``jwks_base_url`` as served by :class:`JwksServer`."""
        self.init()
        return [
            Issuer(
                agency=agency,
                issuer=issuer_name(agency),
                audience=self.audience,
                jwks_file=None if jwks_base_url else self.jwks_path(agency),
                jwks_url=f"{jwks_base_url.rstrip('/')}/{agency}/jwks.json"
                if jwks_base_url
                else None,
            )
            for agency in self.agencies
        ]

    def jwks(self, agency: str) -> dict[str, Any]:
        self._check_agency(agency)
        self._ensure(agency)
        return json.loads(self.jwks_path(agency).read_text(encoding="utf-8"))

    def rotate(self, agency: str) -> str:
        """Replace the agency's signing key; the JWKS keeps the previous public key so tokens
        already issued stay valid until they expire. Returns the new key id."""
        self._check_agency(agency)
        self._ensure(agency)
        with self._lock:
            path = self.key_path(agency)
            retired = path.with_name(f"{agency}.key.{int(time.time() * 1000)}.retired.pem")
            try:
                path.rename(retired)
            except OSError as exc:
                raise KeyFileError(f"cannot rotate {path}: {exc.strerror}") from None
            self._keys.pop(agency, None)
        self._ensure(agency)
        return self.signing_key(agency)[0]

    # Tokens ----------------------------------------------------------------------------

    def token(
        self,
        agency: str,
        *,
        user: str,
        roles: Sequence[str],
        purposes: Sequence[str] = (),
        purpose: str | None = None,
        subject: str | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        now: int | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed bearer token from the agency's issuer; ``claims`` override any claim."""
        self._check_agency(agency)
        for role in roles:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}; known: {', '.join(sorted(ROLES))}")
        for code in (*purposes, *([purpose] if purpose else [])):
            if code not in PURPOSES:
                raise ValueError(f"unknown purpose of use {code!r}; known: {', '.join(PURPOSES)}")
        if lifetime <= 0:
            raise ValueError("token lifetime must be positive")
        issued = int(time.time()) if now is None else now
        payload: dict[str, Any] = {
            "iss": issuer_name(agency),
            "aud": self.audience,
            "sub": user,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
            CLAIM_AGENCY: agency,
            CLAIM_ROLES: list(roles),
            CLAIM_PURPOSES: list(purposes),
        }
        if purpose is not None:
            payload[CLAIM_PURPOSE] = purpose
        if subject is not None:
            payload[CLAIM_SUBJECT] = subject
        payload.update(claims or {})
        kid, key = self.signing_key(agency)
        return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})

    def case_worker_token(
        self, agency: str, purpose: str, *, user: str | None = None, **options: Any
    ) -> str:
        """A case worker of ``agency`` who may act only under ``purpose``."""
        return self.token(
            agency,
            user=user or f"case-worker.{agency}",
            roles=[ROLE_CASE_WORKER],
            purposes=[purpose],
            purpose=purpose,
            **options,
        )

    def auditor_token(
        self, agency: str = OVERSIGHT, *, user: str | None = None, **options: Any
    ) -> str:
        return self.token(agency, user=user or f"auditor.{agency}", roles=[ROLE_AUDITOR], **options)

    def citizen_token(self, person_id: str, **options: Any) -> str:
        """A person signed in at the citizen portal, acting for themselves."""
        return self.token(
            CITIZEN_PORTAL,
            user=f"citizen.{person_id}",
            roles=[ROLE_CITIZEN],
            purposes=[CITIZEN_PURPOSE],
            purpose=CITIZEN_PURPOSE,
            subject=person_id,
            **options,
        )

    def admin_token(self, agency: str, *, user: str | None = None, **options: Any) -> str:
        return self.token(
            agency, user=user or f"admin.{agency}", roles=[ROLE_AGENCY_ADMIN], **options
        )

    def sample_tokens(self, citizen: str = "P000001") -> dict[str, str]:
        """Ready-to-paste tokens for the demo, keyed by what each one is."""
        tokens: dict[str, str] = {}
        for agency, purposes in DEMO_PURPOSES.items():
            if agency in self.agencies:
                for purpose in purposes:
                    tokens[f"case_worker.{agency}.{purpose}"] = self.case_worker_token(
                        agency, purpose
                    )
        if OVERSIGHT in self.agencies:
            tokens["auditor"] = self.auditor_token()
        if CITIZEN_PORTAL in self.agencies:
            tokens[f"citizen.{citizen}"] = self.citizen_token(citizen)
        for agency in DEMO_PURPOSES:
            if agency in self.agencies:
                tokens[f"agency_admin.{agency}"] = self.admin_token(agency)
        return tokens

    # Keys ------------------------------------------------------------------------------

    def _check_agency(self, agency: str) -> None:
        if agency not in self.agencies:
            raise ValueError(
                f"no demo issuer for agency {agency!r}; known: {', '.join(self.agencies)}"
            )

    def signing_key(self, agency: str) -> tuple[str, ed25519.Ed25519PrivateKey]:
        """The agency issuer's current (kid, private key), created if missing."""
        self._check_agency(agency)
        with self._lock:
            if agency not in self._keys:
                self._ensure(agency)
                key = load_signing_key(self.key_path(agency))
                self._keys[agency] = (okp_jwk(key.public_key())["kid"], key)
            return self._keys[agency]

    def _ensure(self, agency: str) -> list[Path]:
        """Make sure the agency has a signing key and a JWKS that publishes it."""
        created: list[Path] = []
        key_path, jwks_path = self.key_path(agency), self.jwks_path(agency)
        key, new = ensure_signing_key(key_path)
        if new:
            created.append(key_path)
        current = okp_jwk(key.public_key())
        published: list[dict[str, Any]] = []
        if jwks_path.exists():
            try:
                published = json.loads(jwks_path.read_text(encoding="utf-8"))["keys"]
            except (OSError, ValueError, KeyError, TypeError):
                published = []  # rebuilt below from the signing key
        if any(jwk.get("kid") == current["kid"] for jwk in published):
            return created
        # The new key first; at most one previous key kept for tokens already in circulation.
        keys = [current, *[jwk for jwk in published if isinstance(jwk, dict)][:1]]
        write_file_atomic(
            jwks_path, json.dumps({"keys": keys}, indent=2).encode("utf-8"), mode=0o644
        )
        created.append(jwks_path)
        return created


class JwksServer:
    """Serves the demo issuers' JWKS at ``/<agency>/jwks.json`` on 127.0.0.1.

    Each request reads the JWKS file afresh, so a rotation is visible at once. Use as a
    context manager, or call :meth:`close`; ``hits`` counts requests per agency.
    """

    def __init__(self, idp: DemoIdentityProvider, host: str = "127.0.0.1", port: int = 0):
        self.idp = idp
        self.hits: dict[str, int] = {}
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="accord-jwks", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, agency: str) -> str:
        return f"{self.base_url}/{agency}/jwks.json"

    def issuers(self) -> list[Issuer]:
        return self.idp.issuers(jwks_base_url=self.base_url)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                agency = parts[0] if len(parts) == 2 and parts[1] == "jwks.json" else None
                if agency not in server.idp.agencies:
                    self._send(404, {"error": "not found"})
                    return
                server.hits[agency] = server.hits.get(agency, 0) + 1
                self._send(200, server.idp.jwks(agency))

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the demo prints its own summary

        return Handler
