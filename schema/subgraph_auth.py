"""Gateway-to-subgraph trust: a short-lived, gateway-signed token on every subgraph call.

A partner agency must not answer anyone but the gateway, and must be able to tell, for
each call, on whose behalf and for what purpose its data is asked and which fields the
consent decision permitted. The gateway signs a JWT (EdDSA, Ed25519) per subgraph call;
the agency verifies it with the gateway's public key. Both sides import this module so the
claim names cannot drift apart.

Claims (registered names as in RFC 7519, the rest Accord's)::

    iss      "accord-gateway" (configurable)      aud      the subgraph's name, e.g. "health"
    iat/nbf  issue time                           exp      iat + at most MAX_LIFETIME_SECONDS
    jti      unique token id                      agency   the requesting agency
    user     hash of the requesting user's id     purpose  HL7 PurposeOfUse code, or ""
    rid      the gateway's request id             fields   permitted schema coordinates

A token may be shared for a short while by the calls of one principal and purpose to one
agency that select the same permitted fields: its ``rid`` is ``"*"`` and the call names its
request in the unsigned ``Accord-Request-Id`` header. An agency can verify everything in such
a token (who asks, why, and which governed fields it may return) except which request the
call belongs to.

A Python subgraph mounts the check in one line::

    app = GatewayAuthMiddleware(app, public_keys=[gateway_key], audience="health")

Other languages use any JWT library: accept only ``EdDSA``, check ``iss``, ``aud``, ``exp``
and ``nbf``, and refuse a token that lives longer than five minutes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
GATEWAY_ISSUER = "accord-gateway"
DEFAULT_LIFETIME_SECONDS = 60
MAX_LIFETIME_SECONDS = 300
LEEWAY_SECONDS = 30

CLAIM_ISSUER = "iss"
CLAIM_AUDIENCE = "aud"
CLAIM_ISSUED_AT = "iat"
CLAIM_NOT_BEFORE = "nbf"
CLAIM_EXPIRES = "exp"
CLAIM_TOKEN_ID = "jti"
CLAIM_AGENCY = "agency"
CLAIM_USER = "user"
CLAIM_PURPOSE = "purpose"
CLAIM_REQUEST_ID = "rid"
CLAIM_FIELDS = "fields"

# ``rid`` of a token shared between requests; the request id then travels in
# REQUEST_ID_HEADER, which the gateway does not sign.
SHARED_REQUEST_ID = "*"
REQUEST_ID_HEADER = "Accord-Request-Id"
MAX_REQUEST_ID = 64

REQUIRED_CLAIMS = (
    CLAIM_ISSUER,
    CLAIM_AUDIENCE,
    CLAIM_ISSUED_AT,
    CLAIM_EXPIRES,
    CLAIM_AGENCY,
    CLAIM_USER,
    CLAIM_PURPOSE,
    CLAIM_REQUEST_ID,
)

log = logging.getLogger("accord.subgraph_auth")

# Where the middleware leaves the verified claims: ``request.state.gateway_claims`` in
# Starlette, ``info.context["request"].state.gateway_claims`` in a strawberry resolver.
STATE_KEY = "gateway_claims"


def gateway_claims(request: Any) -> GatewayClaims | None:
    """The claims :class:`GatewayAuthMiddleware` verified for this request, if any.

    ``request`` is a Starlette request, an ASGI scope, or a strawberry context (a dict with
    ``"request"``, or an object with ``.request``).
    """
    if isinstance(request, Mapping) and "request" in request:
        request = request["request"]
    elif hasattr(request, "request") and not hasattr(request, "scope"):
        request = request.request
    scope = getattr(request, "scope", request)
    if not isinstance(scope, Mapping):
        return None
    claims = (scope.get("state") or {}).get(STATE_KEY)
    return claims if isinstance(claims, GatewayClaims) else None


class GatewayTokenError(Exception):
    """A gateway token that must not be honoured; the message says why, never the token."""


@dataclass(frozen=True)
class GatewayClaims:
    """Who asks a subgraph for what, as the gateway vouches for it."""

    agency: str
    user: str
    purpose: str
    request_id: str
    audience: str
    fields: tuple[str, ...] = ()
    issuer: str = GATEWAY_ISSUER
    issued_at: int | None = None
    expires_at: int | None = None
    token_id: str | None = None
    # True for a token shared between requests: ``request_id`` then comes from the unsigned
    # Accord-Request-Id header (for correlation only).
    shared: bool = False

    def permits(self, coordinate: str) -> bool:
        """True if the decision permitted ``Type.field`` (for example ``Person.diagnoses``)."""
        return coordinate in self.fields

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            CLAIM_ISSUER: self.issuer,
            CLAIM_AUDIENCE: self.audience,
            CLAIM_AGENCY: self.agency,
            CLAIM_USER: self.user,
            CLAIM_PURPOSE: self.purpose,
            CLAIM_REQUEST_ID: self.request_id,
            CLAIM_FIELDS: list(self.fields),
        }
        if self.issued_at is not None:
            payload[CLAIM_ISSUED_AT] = self.issued_at
            payload[CLAIM_NOT_BEFORE] = self.issued_at
        if self.expires_at is not None:
            payload[CLAIM_EXPIRES] = self.expires_at
        if self.token_id is not None:
            payload[CLAIM_TOKEN_ID] = self.token_id
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GatewayClaims:
        fields = payload.get(CLAIM_FIELDS, [])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise GatewayTokenError(f"claim {CLAIM_FIELDS!r} must be a list of strings")
        for name in (CLAIM_AGENCY, CLAIM_USER, CLAIM_REQUEST_ID):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise GatewayTokenError(f"claim {name!r} must be a non-empty string")
        # Empty when the request chose no purpose: then it may read nothing governed, and
        # ``fields`` is empty, but it may still ask for what is about no one (a school list).
        if not isinstance(payload.get(CLAIM_PURPOSE), str):
            raise GatewayTokenError(f"claim {CLAIM_PURPOSE!r} must be a string")
        audience = payload[CLAIM_AUDIENCE]
        return cls(
            agency=payload[CLAIM_AGENCY],
            user=payload[CLAIM_USER],
            purpose=payload[CLAIM_PURPOSE],
            request_id=payload[CLAIM_REQUEST_ID],
            audience=audience if isinstance(audience, str) else ",".join(audience),
            fields=tuple(fields),
            issuer=payload[CLAIM_ISSUER],
            issued_at=payload.get(CLAIM_ISSUED_AT),
            expires_at=payload.get(CLAIM_EXPIRES),
            token_id=payload.get(CLAIM_TOKEN_ID),
            shared=payload[CLAIM_REQUEST_ID] == SHARED_REQUEST_ID,
        )


def make_gateway_token(
    claims: GatewayClaims,
    private_key: Ed25519PrivateKey,
    *,
    lifetime: int = DEFAULT_LIFETIME_SECONDS,
    now: int | None = None,
    key_id: str | None = None,
) -> str:
    """Sign ``claims`` for one subgraph call. Times not set in ``claims`` are filled in."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("gateway tokens are signed with an Ed25519 private key")
    for name, value in (
        (CLAIM_AGENCY, claims.agency),
        (CLAIM_USER, claims.user),
        (CLAIM_REQUEST_ID, claims.request_id),
        (CLAIM_AUDIENCE, claims.audience),
    ):
        # A subgraph refuses such a token; say so here, where the cause is.
        if not isinstance(value, str) or not value:
            raise ValueError(f"gateway token claim {name!r} must be a non-empty string")

    issued = claims.issued_at if claims.issued_at is not None else int(now or time.time())
    payload = claims.to_payload()
    payload[CLAIM_ISSUED_AT] = issued
    payload[CLAIM_NOT_BEFORE] = issued
    payload.setdefault(CLAIM_EXPIRES, issued + lifetime)
    if not 0 < payload[CLAIM_EXPIRES] - issued <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"gateway token lifetime must be 1 to {MAX_LIFETIME_SECONDS} s")
    payload.setdefault(CLAIM_TOKEN_ID, uuid.uuid4().hex)
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(payload, private_key, algorithm=ALGORITHM, headers=headers)


PublicKeys = Iterable[Ed25519PublicKey] | Mapping[str, Ed25519PublicKey]


def verify_gateway_token(
    token: str,
    public_keys: PublicKeys,
    audience: str,
    *,
    issuer: str = GATEWAY_ISSUER,
    leeway: int = LEEWAY_SECONDS,
    max_lifetime: int = MAX_LIFETIME_SECONDS,
) -> GatewayClaims:
    """Verify a gateway token for the subgraph named ``audience`` and return its claims.

    ``public_keys`` holds the gateway's current keys (several during a rotation); a mapping
    selects by the token's ``kid``. Only EdDSA is accepted, whatever the header says, so a
    token with ``alg: none`` or an HMAC made with a public key is refused.
    """
    if not isinstance(token, str) or not token:
        raise GatewayTokenError("missing gateway token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise GatewayTokenError("malformed gateway token") from None
    if header.get("alg") != ALGORITHM:
        raise GatewayTokenError(f"gateway token algorithm must be {ALGORITHM}")
    candidates = _candidate_keys(public_keys, header.get("kid"))
    if not candidates:
        raise GatewayTokenError("gateway token signed with an unknown key")
    payload: dict[str, Any] | None = None
    for key in candidates:
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer,
                leeway=leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise GatewayTokenError("gateway token has expired") from None
        except jwt.ImmatureSignatureError:
            raise GatewayTokenError("gateway token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise GatewayTokenError(f"gateway token is not meant for {audience!r}") from None
        except jwt.InvalidIssuerError:
            raise GatewayTokenError("gateway token has the wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise GatewayTokenError(f"gateway token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise GatewayTokenError(f"invalid gateway token: {exc}") from None
    if payload is None:
        raise GatewayTokenError("gateway token signature does not verify")
    if payload[CLAIM_EXPIRES] - payload[CLAIM_ISSUED_AT] > max_lifetime:
        raise GatewayTokenError(f"gateway token lives longer than {max_lifetime} s")
    return GatewayClaims.from_payload(payload)


def _candidate_keys(public_keys: PublicKeys, kid: object) -> list[Ed25519PublicKey]:
    if isinstance(public_keys, Mapping):
        if isinstance(kid, str) and kid in public_keys:
            return [public_keys[kid]]
        return [] if kid else list(public_keys.values())
    return list(public_keys)


def load_public_keys(path: str | Path) -> list[Ed25519PublicKey]:
    """Read the gateway's Ed25519 public key(s) from a PEM file (one or more keys) or a
    JWKS / JWK JSON file (``kty: OKP``, ``crv: Ed25519``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GatewayTokenError(f"cannot read gateway key file {path}: {exc.strerror}") from None
    keys: list[Ed25519PublicKey] = []
    if data.lstrip().startswith(b"{"):
        try:
            document = json.loads(data)
        except ValueError:
            raise GatewayTokenError(f"gateway key file {path} is not valid JSON") from None
        entries = document.get("keys", [document]) if isinstance(document, dict) else []
        for jwk in entries if isinstance(entries, list) else []:
            if not isinstance(jwk, dict) or (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519"):
                continue
            try:
                keys.append(jwt.PyJWK(jwk, algorithm=ALGORITHM).key)
            except (jwt.PyJWKError, jwt.PyJWTError, ValueError, TypeError):
                raise GatewayTokenError(f"gateway key file {path} has a bad Ed25519 JWK") from None
    else:
        marker = b"-----BEGIN PUBLIC KEY-----"
        for block in data.split(marker)[1:]:
            try:
                key = serialization.load_pem_public_key(marker + block)
            except ValueError:
                raise GatewayTokenError(f"gateway key file {path} has a bad PEM block") from None
            if isinstance(key, Ed25519PublicKey):
                keys.append(key)
    if not keys:
        raise GatewayTokenError(f"gateway key file {path} holds no Ed25519 public key")
    return keys


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Tokens the middleware has verified, kept until they expire. The gateway hands one token to
# every call with the same principal, purpose, agency and fields for ten seconds, and checking
# its Ed25519 signature takes about 110 µs, more than a simple answer costs. Keyed by the
# token's exact text: a token that differs in any byte is verified afresh.
VERIFIED_MEMO = 1024


class GatewayAuthMiddleware:
    """ASGI middleware: refuse every HTTP call that lacks a valid gateway token.

    A refusal is HTTP 401 with a GraphQL error (``extensions.code = "UNAUTHENTICATED"``) and
    reaches the application not at all. Paths in ``exempt`` (health checks) stay open. The
    verified :class:`GatewayClaims` are put in the request state under ``gateway_claims``.

    With ``public_sdl``, a POST whose whole query is ``{ _service { sdl } }`` passes without a
    token, so composition tools can read the schema (which holds no one's data); anything
    else in the same document, even a ``__typename`` beside ``_entities``, still needs one.
    """

    def __init__(
        self,
        app: ASGIApp,
        public_keys: PublicKeys,
        audience: str,
        *,
        issuer: str = GATEWAY_ISSUER,
        leeway: int = LEEWAY_SECONDS,
        exempt: Iterable[str] = ("/healthz",),
        public_sdl: bool = False,
    ) -> None:
        self.app = app
        self.public_keys = (
            dict(public_keys) if isinstance(public_keys, Mapping) else list(public_keys)
        )
        if not self.public_keys:
            raise ValueError("GatewayAuthMiddleware needs at least one gateway public key")
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.exempt = frozenset(exempt)
        self.public_sdl = public_sdl
        self._verified: dict[str, GatewayClaims] = {}

    def verify(self, token: str) -> GatewayClaims:
        """The claims of ``token`` (see :func:`verify_gateway_token`). A token verified before
        is taken from memory while it is still valid: its signature, audience, issuer and
        lifetime cannot have changed, only the clock has moved, and expiry is checked again
        here with the same leeway."""
        claims = self._verified.get(token)
        if claims is not None:
            if claims.expires_at is not None and time.time() < claims.expires_at + self.leeway:
                return claims
            del self._verified[token]
        claims = verify_gateway_token(
            token, self.public_keys, self.audience, issuer=self.issuer, leeway=self.leeway
        )
        if len(self._verified) >= VERIFIED_MEMO:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        try:
            claims = self.verify(_bearer(scope))
        except GatewayTokenError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            if self.public_sdl:
                is_sdl, receive = await _sdl_request(scope, receive)
                if is_sdl:
                    await self.app(scope, receive, send)
                    return
            client = scope.get("client") or ("?", 0)
            log.warning("refused call to %s from %s: %s", scope.get("path"), client[0], exc)
            await _unauthenticated(send, str(exc))
            return
        if claims.shared:
            claims = replace(claims, request_id=_request_id_header(scope))
        scope.setdefault("state", {})[STATE_KEY] = claims
        await self.app(scope, receive, send)


def _request_id_header(scope: Scope) -> str:
    """The request id a call with a shared token names (unsigned: for correlation only)."""
    wanted = REQUEST_ID_HEADER.lower().encode()
    for name, value in scope.get("headers", ()):
        if name == wanted:
            text = value.decode("latin-1").strip()[:MAX_REQUEST_ID]
            if text and text.isprintable():
                return text
    return SHARED_REQUEST_ID


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            raise GatewayTokenError("authorization header must be 'Bearer <gateway token>'")
    raise GatewayTokenError("missing gateway token")


async def _unauthenticated(send: Send, reason: str) -> None:
    body = json.dumps(
        {
            "data": None,
            "errors": [{"message": reason, "extensions": {"code": "UNAUTHENTICATED"}}],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer error="invalid_token"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


SDL_QUERY_LIMIT = 4096


async def _sdl_request(scope: Scope, receive: Receive) -> tuple[bool, Receive]:
    """Whether the request asks for nothing but the subgraph's SDL, and a ``receive`` that
    replays the body read to find out."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return False, receive
    messages: list[MutableMapping[str, Any]] = []
    body = b""
    complete = False
    while len(body) <= SDL_QUERY_LIMIT:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            complete = True
            break

    async def replay() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else await receive()

    return complete and len(body) <= SDL_QUERY_LIMIT and is_service_sdl_request(body), replay


def is_service_sdl_request(body: bytes) -> bool:
    """True if the JSON request ``body`` asks for nothing but ``{ _service { sdl } }``: one
    query operation whose fields are ``_service`` (selecting only ``sdl``) or ``__typename``,
    without fragments, arguments or directives."""
    from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

    try:
        request = json.loads(body)
        document = parse(request["query"], no_location=True)
    except (ValueError, TypeError, KeyError, GraphQLError):
        return False
    if len(document.definitions) != 1:
        return False
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        return False
    if operation.operation != OperationType.QUERY or operation.directives:
        return False

    def only(selections: Any, allowed: set[str]) -> bool:
        return all(
            isinstance(node, FieldNode)
            and node.name.value in allowed
            and not node.arguments
            and not node.directives
            for node in selections
        )

    top = operation.selection_set.selections
    if not only(top, {"_service", "__typename"}):
        return False
    return all(
        node.selection_set is not None
        and only(node.selection_set.selections, {"sdl", "__typename"})
        for node in top
        if node.name.value == "_service"
    )
