"""Who is calling: bearer JWTs from the member agencies' identity providers become a Principal.

Each member agency trusts its own identity provider, and the gateway trusts that provider to
speak for that agency only. A token is accepted when it is signed by a key the provider
publishes (a JWKS file or URL), with an algorithm from a short allow-list, within its validity
window, for Accord's audience. The caller then picks one purpose of use among those the token
allows; consent and statutes decide per purpose, so an unchosen or unallowed purpose is refused
before anything is fetched.

Keys are parsed once per JWKS load, never per request, and a verified token is remembered
(bounded, until it expires), because an EdDSA verification costs more than the rest of a small
request's authentication put together.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from app.settings import Issuer, Settings, SettingsError
from ledger.vocabulary import PURPOSES

log = logging.getLogger("accord.identity")

# The claims Accord reads from a bearer token; docs/identity.md describes each.
CLAIM_ISSUER = "iss"
CLAIM_AUDIENCE = "aud"
CLAIM_USER = "sub"
CLAIM_EXPIRES = "exp"
CLAIM_NOT_BEFORE = "nbf"
CLAIM_AGENCY = "agency"
CLAIM_ROLES = "roles"
CLAIM_PURPOSES = "purposes"
CLAIM_PURPOSE = "purpose"
CLAIM_SUBJECT = "subject"
REQUIRED_CLAIMS = (CLAIM_ISSUER, CLAIM_AUDIENCE, CLAIM_USER, CLAIM_EXPIRES)

# The request header that chooses a purpose of use among those the token allows.
PURPOSE_HEADER = "Accord-Purpose"

ROLE_CASE_WORKER = "case_worker"
ROLE_AUDITOR = "auditor"
ROLE_CITIZEN = "citizen"
ROLE_AGENCY_ADMIN = "agency_admin"
ROLES = frozenset({ROLE_CASE_WORKER, ROLE_AUDITOR, ROLE_CITIZEN, ROLE_AGENCY_ADMIN})

# Signature algorithms accepted, and the public key type each one needs. Anything else
# (``none``, HS256 with a public key as the secret, PS*, ES384...) is refused outright.
ALGORITHMS: dict[str, tuple[type, ...]] = {
    "EdDSA": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
    "ES256": (ec.EllipticCurvePublicKey,),
    "RS256": (rsa.RSAPublicKey,),
}
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 1_000_000
MAX_TOKEN_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    ``purposes`` are the purposes of use the token allows; ``purpose`` is the one this request
    acts under (None when the token allows several and the request chose none). ``subject`` is
    the person id of a citizen acting for themselves.
    """

    agency: str
    user: str
    roles: frozenset[str]
    purposes: frozenset[str]
    purpose: str | None
    subject: str | None
    issuer: str

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def require_purpose(self) -> str:
        """The purpose this request acts under; refused when the caller chose none."""
        if self.purpose is None:
            allowed = ", ".join(sorted(self.purposes)) or "none"
            raise Forbidden(
                f"choose a purpose of use with the {PURPOSE_HEADER} header (allowed: {allowed})"
            )
        return self.purpose


class IdentityError(Exception):
    """A refused request; ``code`` goes into the GraphQL error's ``extensions.code``."""

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code}

    def graphql_error(self) -> dict[str, Any]:
        """The refusal as one GraphQL error, for a response body ``{"errors": [...]}``."""
        return {"message": self.reason, "extensions": self.extensions}

    @property
    def headers(self) -> dict[str, str]:
        """Response headers for the refusal (RFC 6750 for a missing or bad token)."""
        return {"WWW-Authenticate": 'Bearer realm="accord", error="invalid_token"'}


class Unauthenticated(IdentityError):
    """Missing, malformed or untrustworthy credentials (HTTP 401)."""


class Forbidden(IdentityError):
    """Valid credentials that do not allow what the request asks for (HTTP 403)."""

    code = "FORBIDDEN"
    status = 403

    @property
    def headers(self) -> dict[str, str]:
        return {}


class IdentityConfigError(SettingsError):
    """A trusted issuer whose keys cannot be used; raised at start-up, worded for the operator
    (the command line prints it as a one-line configuration error)."""


# --------------------------------------------------------------------------------------------
# Key sets


def _load_jwk(jwk: Mapping[str, Any]) -> tuple[str | None, Any] | None:
    """Parse one public JWK into (kid, key), or None if it cannot sign Accord tokens."""
    if not isinstance(jwk, Mapping):
        return None
    if jwk.get("use", "sig") != "sig" or "d" in jwk or jwk.get("kty") == "oct":
        # Encryption keys, private keys and shared secrets have no place in a verifier's JWKS.
        return None
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    kid = jwk.get("kid")
    return (kid if isinstance(kid, str) else None), key


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    key: Any
    algorithm: str | None  # the JWK's own "alg", when it pins one


class KeySet:
    """The signing keys one trusted issuer publishes, loaded from a JWKS file or URL.

    Loaded once and kept; reloaded when a token names a ``kid`` the set does not hold (a key
    rotation) or when older than ``max_age``, but never more often than ``min_refresh`` so a
    flood of tokens with made-up key ids cannot hammer the provider.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        min_refresh: float = 30.0,
        max_age: float = 3600.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.min_refresh = min_refresh
        self.max_age = max_age
        self.timeout = timeout
        self._clock = clock
        self._keys: dict[str | None, _Key] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self.loads = 0  # successful loads, for metrics and tests

    @property
    def keys(self) -> list[_Key]:
        return list(self._keys.values())

    def find(self, kid: str | None, algorithm: str) -> _Key | None:
        """The key for ``kid``; without a kid, the only key usable with ``algorithm``."""
        if kid is not None:
            return self._keys.get(kid)
        usable = [k for k in self._keys.values() if _key_fits(k, algorithm)]
        return usable[0] if len(usable) == 1 else None

    def stale(self) -> bool:
        if self._loaded_at is None:
            return True
        return self._clock() - self._loaded_at >= self.max_age

    def refresh_due(self) -> bool:
        """False while a reload attempt is too recent to try again."""
        attempted = self._attempted_at
        return attempted is None or self._clock() - attempted >= self.min_refresh

    def refresh(self, *, force: bool = False) -> bool:
        """Reload the set unless a reload was attempted too recently; True if keys changed.

        A failed reload keeps the keys already held: an unreachable provider must not log
        everyone out.
        """
        with self._lock:
            now = self._clock()
            if not force and not self.refresh_due():
                return False
            self._attempted_at = now
            try:
                keys = self._read()
            except IdentityConfigError as exc:
                log.warning("could not reload keys from %s: %s", self.source, exc)
                return False
            if not keys:
                log.warning("%s publishes no usable signing key", self.source)
            changed = keys != self._keys
            self._keys = keys
            self._loaded_at = now
            self.loads += 1
            return changed

    def _read(self) -> dict[str | None, _Key]:
        raw = self._fetch()
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise IdentityConfigError(f"{self.source} is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise IdentityConfigError(f"{self.source} is not a JWKS (no 'keys' list)")
        keys: dict[str | None, _Key] = {}
        for jwk in document["keys"]:
            loaded = _load_jwk(jwk)
            if loaded is None:
                log.warning("ignoring an unusable key in %s", self.source)
                continue
            kid, key = loaded
            alg = jwk.get("alg")
            keys[kid] = _Key(kid, key, alg if isinstance(alg, str) else None)
        return keys

    def _fetch(self) -> bytes:
        if isinstance(self.source, Path):
            try:
                return self.source.read_bytes()[: MAX_JWKS_BYTES + 1]
            except OSError as exc:
                raise IdentityConfigError(f"cannot read {self.source}: {exc.strerror}") from None
        scheme = urllib.parse.urlsplit(self.source).scheme
        if scheme not in ("http", "https"):
            raise IdentityConfigError(f"{self.source}: JWKS URLs must be http or https")
        request = urllib.request.Request(self.source, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise IdentityConfigError(f"cannot fetch {self.source}: {exc}") from None
        if len(body) > MAX_JWKS_BYTES:
            raise IdentityConfigError(f"{self.source} is larger than {MAX_JWKS_BYTES} bytes")
        return body


def _key_fits(key: _Key, algorithm: str) -> bool:
    """True if ``key`` may verify a signature made with ``algorithm``."""
    if key.algorithm is not None and key.algorithm != algorithm:
        return False
    types = ALGORITHMS.get(algorithm)
    if types is None or not isinstance(key.key, types):
        return False
    if algorithm == "ES256":
        return isinstance(key.key.curve, ec.SECP256R1)
    if algorithm == "RS256":
        return key.key.key_size >= MIN_RSA_BITS
    return True


# --------------------------------------------------------------------------------------------
# Authentication


@dataclass(frozen=True, slots=True)
class _Identity:
    """What a verified token says, before the request picks its purpose."""

    agency: str
    user: str
    roles: frozenset[str]
    purposes: frozenset[str]
    purpose: str | None
    subject: str | None
    issuer: str
    expires: float


@dataclass(frozen=True, slots=True)
class _TrustedIssuer:
    settings: Issuer
    keys: KeySet


class _NeedsRefresh(Exception):
    def __init__(self, keys: KeySet) -> None:
        self.keys = keys


class Authenticator:
    """Turns the ``Authorization`` and ``Accord-Purpose`` headers of a request into a Principal.

    Use :meth:`authenticate` from async code (key reloads run in a worker thread) and
    :meth:`authenticate_sync` elsewhere.
    """

    def __init__(
        self,
        issuers: Iterable[Issuer],
        *,
        leeway: float = 30.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.leeway = leeway
        self.cache_size = cache_size
        self._clock = clock
        self._issuers: dict[str, list[_TrustedIssuer]] = {}
        for issuer in issuers:
            source = _jwks_source(issuer)
            keys = KeySet(
                source,
                min_refresh=issuer.jwks_min_refresh_seconds,
                max_age=issuer.jwks_max_age_seconds,
                timeout=issuer.jwks_timeout_seconds,
            )
            self._issuers.setdefault(issuer.issuer, []).append(_TrustedIssuer(issuer, keys))
        self._verified: OrderedDict[str, _Identity] = OrderedDict()
        self._verified_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        authenticator = cls(settings.issuers, leeway=settings.token_leeway_seconds)
        authenticator.load_keys()
        return authenticator

    def load_keys(self) -> None:
        """Load every issuer's keys now (at start-up), so the first request does not wait.

        A JWKS file that cannot be used is a configuration error; an unreachable URL is only
        logged, since the provider may come up later.
        """
        for trusted in self._all():
            changed = trusted.keys.refresh(force=True)
            if trusted.keys.loads == 0 and isinstance(trusted.keys.source, Path):
                raise IdentityConfigError(
                    f"issuer {trusted.settings.issuer} ({trusted.settings.agency}): "
                    f"cannot load keys from {trusted.keys.source}"
                )
            if changed:
                self.forget_verified()

    @property
    def remembered(self) -> int:
        """How many verified tokens are held, for metrics."""
        return len(self._verified)

    def forget_verified(self) -> None:
        with self._verified_lock:
            self._verified.clear()

    async def authenticate(
        self, authorization: str | None, purpose_header: str | None = None
    ) -> Principal:
        """Verify the request's credentials; raises :class:`IdentityError` when refused."""
        for attempt in range(2):
            try:
                return self._authenticate(authorization, purpose_header, final=attempt == 1)
            except _NeedsRefresh as need:
                if await anyio.to_thread.run_sync(need.keys.refresh):
                    self.forget_verified()
        raise AssertionError("unreachable")  # pragma: no cover

    def authenticate_sync(
        self, authorization: str | None, purpose_header: str | None = None
    ) -> Principal:
        for attempt in range(2):
            try:
                return self._authenticate(authorization, purpose_header, final=attempt == 1)
            except _NeedsRefresh as need:
                if need.keys.refresh():
                    self.forget_verified()
        raise AssertionError("unreachable")  # pragma: no cover

    # The request path ------------------------------------------------------------------

    def _authenticate(
        self, authorization: str | None, purpose_header: str | None, *, final: bool
    ) -> Principal:
        token = None
        try:
            token = _bearer_token(authorization)
            identity = self._cached(token)
            if identity is None:
                identity = self._verify(token, final=final)
                self._remember(token, identity)
            return _choose_purpose(identity, purpose_header)
        except IdentityError as exc:
            fingerprint = f" [token sha256:{_digest(token)}]" if token else ""
            log.warning("request refused (%s): %s%s", exc.code, exc.reason, fingerprint)
            raise

    def _cached(self, token: str) -> _Identity | None:
        with self._verified_lock:
            identity = self._verified.get(token)
            if identity is None:
                return None
            if identity.expires + self.leeway <= self._clock():
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
            return identity

    def _remember(self, token: str, identity: _Identity) -> None:
        if self.cache_size <= 0:
            return
        with self._verified_lock:
            self._verified[token] = identity
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)

    def _verify(self, token: str, *, final: bool) -> _Identity:
        header, claims = _peek(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Unauthenticated(
                f"signature algorithm {str(algorithm)[:20]!r} is not accepted; "
                f"use one of {', '.join(ALGORITHMS)}"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("malformed token: kid must be a string")
        issuer_name = claims.get(CLAIM_ISSUER)
        candidates = self._issuers.get(issuer_name) if isinstance(issuer_name, str) else None
        if not candidates:
            raise Unauthenticated("token issuer is not trusted")
        trusted = self._pick_issuer(candidates, claims)
        keys = trusted.keys
        key = keys.find(kid, algorithm)
        if (key is None or keys.stale()) and not final and keys.refresh_due():
            raise _NeedsRefresh(keys)
        if key is None:
            raise Unauthenticated(
                "token signed with an unknown key" if kid else "token names no key (kid)"
            )
        if not _key_fits(key, algorithm):
            raise Unauthenticated(f"key {str(kid)[:40]!r} cannot verify {algorithm} signatures")
        settings = trusted.settings
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"token is not meant for this audience ({settings.audience})"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            # pyjwt words ill-typed time claims without quoting the token; other messages may.
            detail = f": {str(exc)[:80]}" if "claim" in str(exc) else ""
            raise Unauthenticated(f"malformed token{detail}") from None
        return _identity(claims, settings)

    def _pick_issuer(
        self, candidates: list[_TrustedIssuer], claims: Mapping[str, Any]
    ) -> _TrustedIssuer:
        """The configured issuer this token speaks for; one provider may serve several
        agencies, then the ``agency`` claim says which."""
        if len(candidates) == 1:
            return candidates[0]
        agency = claims.get(CLAIM_AGENCY)
        for trusted in candidates:
            if trusted.settings.agency == agency:
                return trusted
        raise Unauthenticated("token does not name an agency its issuer is trusted for")

    def _all(self) -> list[_TrustedIssuer]:
        return [t for group in self._issuers.values() for t in group]


def _jwks_source(issuer: Issuer) -> str | Path:
    if issuer.jwks_file is not None:
        return issuer.jwks_file
    if issuer.jwks_url:
        return issuer.jwks_url
    raise IdentityConfigError(
        f"issuer {issuer.issuer} ({issuer.agency}) has neither jwks_file nor jwks_url"
    )


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise Unauthenticated("missing bearer token (send 'Authorization: Bearer <token>')")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthenticated("malformed token: too long")
    return token


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, unverified: enough to pick the issuer and key.

    pyjwt verifies everything again afterwards; this only avoids its slower unverified decode
    (about 30 us against 8 us here).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("malformed token: not a compact JWS (header.payload.signature)")
    try:
        header, claims = (json.loads(_b64url_decode(part)) for part in parts[:2])
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthenticated("malformed token: header and payload must be JSON objects")
    return header, claims


def _b64url_decode(segment: str) -> bytes:
    if _B64URL.fullmatch(segment) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def _identity(claims: Mapping[str, Any], issuer: Issuer) -> _Identity:
    user = claims[CLAIM_USER]
    if not isinstance(user, str) or not user:
        raise Unauthenticated(f"the {CLAIM_USER!r} claim must be a non-empty string")
    agency = claims.get(CLAIM_AGENCY, issuer.agency)
    if agency != issuer.agency:
        raise Unauthenticated(f"issuer is not trusted to speak for agency {str(agency)[:40]!r}")
    roles = frozenset(_strings(claims, CLAIM_ROLES)) & ROLES
    purposes = frozenset(code for code in _strings(claims, CLAIM_PURPOSES) if code in PURPOSES)
    purpose = claims.get(CLAIM_PURPOSE)
    if purpose is not None:
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise Unauthenticated(f"the {CLAIM_PURPOSE!r} claim is not a known purpose of use")
        if CLAIM_PURPOSES not in claims:
            purposes = frozenset({purpose})
        elif purpose not in purposes:
            raise Unauthenticated(f"the {CLAIM_PURPOSE!r} claim is not among its {CLAIM_PURPOSES}")
    subject = claims.get(CLAIM_SUBJECT)
    if subject is not None and (not isinstance(subject, str) or not subject):
        raise Unauthenticated(f"the {CLAIM_SUBJECT!r} claim must be a non-empty string")
    if ROLE_CITIZEN in roles and subject is None:
        raise Unauthenticated(f"a citizen's token must carry the {CLAIM_SUBJECT!r} claim")
    return _Identity(
        agency=issuer.agency,
        user=user,
        roles=roles,
        purposes=purposes,
        purpose=purpose,
        subject=subject,
        issuer=issuer.issuer,
        expires=float(claims[CLAIM_EXPIRES]),
    )


def _strings(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name, [])
    if isinstance(value, str):
        value = value.split()  # a space-separated list, as OAuth scopes are written
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Unauthenticated(f"the {name!r} claim must be a list of strings")
    return value


def _choose_purpose(identity: _Identity, requested: str | None) -> Principal:
    purpose = identity.purpose
    if requested is not None and requested.strip():
        code = requested.strip().upper()
        if code not in PURPOSES:
            raise Forbidden(f"unknown purpose of use {requested.strip()[:20]!r}")
        if code not in identity.purposes:
            allowed = ", ".join(sorted(identity.purposes)) or "none"
            raise Forbidden(f"the token does not allow purpose {code} (allowed: {allowed})")
        purpose = code
    elif purpose is None and len(identity.purposes) == 1:
        (purpose,) = identity.purposes
    return Principal(
        agency=identity.agency,
        user=identity.user,
        roles=identity.roles,
        purposes=identity.purposes,
        purpose=purpose,
        subject=identity.subject,
        issuer=identity.issuer,
    )


def _digest(token: str) -> str:
    """A short fingerprint that lets logs be correlated without revealing the token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


# --------------------------------------------------------------------------------------------
# Accord's own key material: the gateway's signing key, kept in the data directory.

KEYS_DIR = "keys"
GATEWAY_KEY_FILE = "gateway.key.pem"
GATEWAY_PUBLIC_KEY_FILE = "gateway.pub.pem"
GATEWAY_JWKS_FILE = "gateway.jwks.json"


class KeyFileError(SettingsError):
    """Key material that cannot be read or written, worded as one line that says what to do."""


def keys_dir(data_dir: Path) -> Path:
    return Path(data_dir) / KEYS_DIR


def gateway_key_path(data_dir: Path) -> Path:
    """The gateway's Ed25519 key, which signs every call to a subgraph."""
    return keys_dir(data_dir) / GATEWAY_KEY_FILE


def ensure_gateway_key(data_dir: Path) -> tuple[ed25519.Ed25519PrivateKey, bool]:
    """The gateway's signing key, created with its public files if missing; (key, created)."""
    path = gateway_key_path(data_dir)
    key, created = ensure_signing_key(path)
    public_pem = path.with_name(GATEWAY_PUBLIC_KEY_FILE)
    jwks = path.with_name(GATEWAY_JWKS_FILE)
    if created or not public_pem.exists() or not jwks.exists():
        write_file_atomic(public_pem, public_pem_bytes(key.public_key()), mode=0o644)
        document = {"keys": [okp_jwk(key.public_key())]}
        write_file_atomic(jwks, json.dumps(document, indent=2).encode(), mode=0o644)
    return key, created


def ensure_signing_key(path: Path) -> tuple[ed25519.Ed25519PrivateKey, bool]:
    """Load the Ed25519 private key at ``path``, creating it (mode 0600) if it does not exist.

    Two processes starting at once both end up with the same key: the file is linked into
    place only if no other process got there first.
    """
    if path.exists():
        return load_signing_key(path), False
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_signing_key(path), False
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    return key, True


def load_signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no key at {path}; run 'accord keys init'") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def public_pem_bytes(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def okp_jwk(public_key: ed25519.Ed25519PublicKey) -> dict[str, str]:
    """The public JWK of an Ed25519 key, its ``kid`` being the RFC 7638 thumbprint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": "EdDSA", "use": "sig"}


_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 over the key type's required members, sorted, without whitespace."""
    required = {
        "OKP": ("crv", "kty", "x"),
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def write_file_atomic(path: Path, data: bytes, *, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> KeyFileError:
    return KeyFileError(
        f"cannot write {path} ({exc.strerror or exc}); make the data directory writable "
        "or choose another with ACCORD_DATA_DIR"
    )
