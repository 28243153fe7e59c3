"""Gateway tokens on subgraph calls: who asks, for what purpose, and which governed fields the
decision permitted for the call.

A token is signed per (principal, purpose, subgraph, permitted fields) and handed out for a few
seconds to every call with that combination, whichever request makes it (``rid`` ``"*"``); the
call names its request in the unsigned ``Accord-Request-Id`` header. A subgraph can verify from
the token everything that limits what it may answer: that the gateway sent the call, for whom,
for what purpose, meant for this subgraph, not expired, and which governed fields it may
select. Only the request the call belongs to rests on the header. Sharing saves a 32 µs
signature per (request, subgraph), most of the signing cost of an enforced request.

The claims are those of :mod:`schema.subgraph_auth`; the JWT is assembled here directly
(compact JSON, a precomputed header) because a general-purpose encoder costs three times the
signature.
"""

from __future__ import annotations

import base64
import time
import uuid

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.enforcement import context
from app.enforcement.governed import GovernedFields
from app.federation.executor import Fetch
from app.federation.planner import SelSet
from schema.subgraph_auth import (
    ALGORITHM,
    DEFAULT_LIFETIME_SECONDS,
    REQUEST_ID_HEADER,
    SHARED_REQUEST_ID,
    GatewayClaims,
)

# A token is handed out for SHARED_REUSE seconds after it is signed and lives SHARED_LIFETIME,
# so a call that got it last still has most of its life left.
SHARED_LIFETIME = 30
SHARED_REUSE = 10
SHARED_MAX = 10_000


class TokenSigner:
    """``Executor.call_headers``: an ``Authorization`` header for each subgraph call."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        governed: GovernedFields,
        *,
        lifetime: int = DEFAULT_LIFETIME_SECONDS,
        key_id: str | None = None,
    ) -> None:
        self.key = key
        self.governed = governed
        self.lifetime = lifetime
        self.key_id = key_id
        header = {"alg": ALGORITHM, "typ": "JWT"}
        if key_id:
            header["kid"] = key_id
        self._header = _b64(orjson.dumps(header)) + b"."
        # (agency, user hash, purpose, subgraph, fields) -> (token, hand out until this second)
        self._shared: dict[tuple[str, str, str, str, tuple[str, ...]], tuple[str, float]] = {}
        self._shared_count = 0
        self._token_prefix = uuid.uuid4().hex[:16] + "."  # token ids unique across processes
        self.signatures = 0

    def fields_of(self, fetch: Fetch, allowed: frozenset[str] | None) -> tuple[str, ...]:
        """Governed coordinates the call selects: the entity's permitted top-level fields, or
        for a root fetch any subject field in its selection (none when planned key-first)."""
        cache = fetch.memo.get("tokens")
        if cache is None:
            cache = fetch.memo["tokens"] = {}
        found = cache.get(allowed)
        if found is None:
            coordinates: set[str] = set()
            if fetch.kind == "entity":
                category = self.governed.category
                for node in fetch.sel_for(allowed).fields.values():
                    if category(fetch.rep_type, node.name) is not None:
                        coordinates.add(f"{fetch.rep_type}.{node.name}")
            else:
                _collect(fetch.sel, None, self.governed, coordinates)
            found = cache[allowed] = tuple(sorted(coordinates))
        return found

    def __call__(self, fetch: Fetch, allowed: frozenset[str] | None) -> dict[str, str] | None:
        ctx = context.current.get()
        if ctx is None:
            return None
        token = self.shared(ctx, fetch.service, self.fields_of(fetch, allowed))
        return {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: ctx.request_id}

    def shared(
        self, ctx: context.RequestContext, service: str, fields: tuple[str, ...] = ()
    ) -> str:
        """The token for a call of ``ctx``'s principal and purpose to ``service`` selecting
        exactly the governed ``fields``, shared briefly between requests."""
        principal = ctx.principal
        key = (principal.agency, ctx.user, principal.purpose or "", service, fields)
        now = time.time()
        found = self._shared.get(key)
        if found is not None and found[1] > now:
            return found[0]
        if len(self._shared) >= SHARED_MAX:
            self._shared = {k: v for k, v in self._shared.items() if v[1] > now}
        issued = int(now)
        self._shared_count += 1
        claims = GatewayClaims(
            agency=principal.agency,
            user=ctx.user,
            purpose=principal.purpose or "",
            request_id=SHARED_REQUEST_ID,
            audience=service,
            fields=fields,
            issued_at=issued,
            expires_at=issued + SHARED_LIFETIME,
            token_id=f"{self._token_prefix}{self._shared_count:x}",
        )
        token = self.sign(claims)
        self._shared[key] = (token, issued + SHARED_REUSE)
        return token

    def sign(self, claims: GatewayClaims) -> str:
        """The compact EdDSA JWT of ``claims`` (issued now unless they say otherwise)."""
        payload = claims.to_payload()
        payload.setdefault("exp", payload["iat"] + self.lifetime)
        signing_input = self._header + _b64(orjson.dumps(payload))
        self.signatures += 1
        return (signing_input + b"." + _b64(self.key.sign(signing_input))).decode()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _collect(sel: SelSet, type_name: str | None, governed: GovernedFields, out: set) -> None:
    """Subject fields anywhere in a root selection, by the fragments' type conditions."""
    for type_condition, sub in sel.frags.items():
        _collect(sub, type_condition, governed, out)
    for node in sel.fields.values():
        if type_name is not None and governed.category(type_name, node.name) is not None:
            out.add(f"{type_name}.{node.name}")
        if node.sel is not None:
            _collect(node.sel, None, governed, out)
