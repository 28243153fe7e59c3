"""Statute contracts: a Cedar policy set plus its Cedar schema, identified by a hash.

A contract decides one thing, whether a data category may be disclosed, from a *shape*: the
requester's attributes, the purpose, the category, and the facts the consent registry derived
from the person's consents. The shape holds nothing else, so a decision is a pure function of
(contract hash, shape) and can be memoised, replayed and tested from a table.

Policies carry their meaning in annotations, which the gateway acts on:
``@id`` names the rule (required, unique), ``@reason`` is the human explanation, ``@obligation``
travels with the disclosed data, ``@silent`` hides a refusal (the field looks absent rather
than withheld), ``@break_glass`` marks an emergency disclosure for review, and ``@basis("consent")``
says the permit rests on the person's consent, so the consent ids become the legal basis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cedarpy
import orjson
from cedarpy import _internal

from ledger.vocabulary import CATEGORIES, DEFAULT_CATEGORY

STARTER_DIR = Path(__file__).resolve().parent / "starter"
ACTION = {"type": "Accord::Action", "id": "disclose"}
DEFAULT_DENY_RULE = "consent.required"
DEFAULT_DENY_REASON = (
    "no consent or statute permits this disclosure; the person's consent is required"
)
_KNOWN_ANNOTATIONS = {"id", "reason", "obligation", "silent", "break_glass", "basis"}


class ContractError(ValueError):
    """A contract that does not parse, does not validate against its schema, or is ill-formed."""


class Facts(NamedTuple):
    """What the person's active consents say about one (recipient, purpose, category)."""

    permits: bool = False
    denies: bool = False
    specific: bool = False
    names_recipient: bool = False
    grantors: tuple[str, ...] = ()
    foster_care: bool = False


NO_FACTS = Facts()


class Shape(NamedTuple):
    """Everything a contract may look at: the memo key of a decision, with the contract hash."""

    agency: str
    kind: str
    roles: tuple[str, ...]
    provider: str
    provider_kind: str
    category: str
    purpose: str
    justified: bool
    court_order: bool
    facts: Facts


class Verdict(NamedTuple):
    """A contract's answer for one shape."""

    permit: bool
    code: str | None  # None, "CONSENT_REQUIRED" or "POLICY_DENIED"
    rule: str
    reason: str
    policies: tuple[str, ...]
    obligations: tuple[str, ...]
    silent: bool
    break_glass: bool
    uses_consent: bool


@dataclass(frozen=True, eq=False)
class Contract:
    """A compiled contract: the texts, their hash, and Cedar handles parsed once."""

    name: str
    version: int
    policies: str
    schema: str
    hash: str
    rules: dict[str, dict[str, str]]  # Cedar's policy id -> annotations (rule id under "id")
    _policy_set: Any = field(repr=False)
    _schema: Any = field(repr=False)
    _entities: Any = field(repr=False)
    # (Cedar decision, determining policy ids) -> Verdict: how annotations read, per contract.
    _verdicts: dict[tuple[Any, ...], Verdict] = field(default_factory=dict, repr=False)

    def body(self) -> dict[str, Any]:
        """The ``contract.proposed`` body that deploys this contract."""
        return {
            "contract": self.name,
            "version": self.version,
            "hash": self.hash,
            "policies": self.policies,
            "schema": self.schema,
        }

    def rule_ids(self) -> list[str]:
        return sorted(annotations["id"] for annotations in self.rules.values())

    def evaluate(self, shapes: list[Shape]) -> list[Verdict]:
        """Decide every shape with one batched Cedar call.

        Requests and requester entities are not re-validated against the schema on every call
        (that costs about a third of the call): the engine builds them in one fixed shape,
        which :func:`compile_contract` checked against this contract's schema once. Any
        evaluation error still denies (see :meth:`_verdict`), so a mismatch fails closed.
        """
        if not shapes:
            return []
        requests, requesters = _batch(shapes)
        entities = self._entities.with_added_json_str(orjson.dumps(requesters).decode())
        results = _internal.is_authorized_batch(
            requests, self._policy_set, entities._inner, None, False
        )
        verdicts = self._verdicts
        out = []
        for text in results:
            result = orjson.loads(text)
            diagnostics = result.get("diagnostics") or {}
            key = (result.get("decision"), tuple(diagnostics.get("reason") or ()))
            verdict = None if diagnostics.get("errors") else verdicts.get(key)
            if verdict is None:
                verdict = self._verdict(result)
                if not diagnostics.get("errors"):
                    verdicts[key] = verdict
            out.append(verdict)
        return out

    def _verdict(self, result: dict[str, Any]) -> Verdict:
        diagnostics = result.get("diagnostics") or {}
        errors = diagnostics.get("errors") or []
        decision = result.get("decision")
        if errors or decision not in ("Allow", "Deny"):
            detail = "; ".join(str(error) for error in errors) or "no decision"
            return Verdict(
                False,
                "POLICY_DENIED",
                "contract.error",
                f"the contract could not decide: {detail}",
                (),
                (),
                False,
                False,
                False,
            )
        rules = sorted(
            (self.rules[p] for p in diagnostics.get("reason") or () if p in self.rules),
            key=lambda rule: rule["id"],
        )
        ids = tuple(rule["id"] for rule in rules)
        if decision == "Allow":
            return Verdict(
                True,
                None,
                ids[0] if len(ids) == 1 else _primary(rules),
                "; ".join(rule.get("reason", rule["id"]) for rule in rules),
                ids,
                tuple(sorted({rule["obligation"] for rule in rules if "obligation" in rule})),
                False,
                any(rule.get("break_glass") == "true" for rule in rules),
                any(rule.get("basis") == "consent" for rule in rules),
            )
        if not rules:
            return Verdict(
                False,
                "CONSENT_REQUIRED",
                DEFAULT_DENY_RULE,
                DEFAULT_DENY_REASON,
                (),
                (),
                False,
                False,
                False,
            )
        first = min(rules, key=lambda rule: rule["id"])
        return Verdict(
            False,
            "POLICY_DENIED",
            first["id"],
            first.get("reason", first["id"]),
            ids,
            (),
            any(rule.get("silent") == "true" for rule in rules),
            False,
            False,
        )


def _primary(rules: list[dict[str, str]]) -> str:
    """Of several permitting rules, name a statute over the generic consent rule."""
    ordered = sorted(rules, key=lambda rule: (rule.get("basis") == "consent", rule["id"]))
    return ordered[0]["id"]


def _requester_entity(uid: str, shape: Shape) -> dict[str, Any]:
    """The principal of a decision: the requester's attributes and the consent facts."""
    facts = shape.facts
    return {
        "uid": {"type": "Accord::Requester", "id": uid},
        "attrs": {
            "agency": shape.agency,
            "kind": shape.kind,
            "roles": list(shape.roles),
            "provider": shape.provider,
            "provider_kind": shape.provider_kind,
            "purpose": shape.purpose,
            "justified": shape.justified,
            "court_order": shape.court_order,
            "consent": {
                "permits": facts.permits,
                "denies": facts.denies,
                "specific": facts.specific,
                "names_recipient": facts.names_recipient,
                "grantors": list(facts.grantors),
                "foster_care": facts.foster_care,
            },
        },
        "parents": [],
    }


def _batch(shapes: list[Shape]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cedar requests for ``shapes`` and the requester entities they name.

    Shapes that differ only in category share one requester entity, so a request of a
    thousand pairs parses a handful of entities and a thousand tiny requests; building a
    request context in Cedar costs several times more than the authorisation itself.
    """
    ids: dict[tuple[Any, ...], str] = {}
    entities: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    made: dict[tuple[str, str], dict[str, Any]] = {}
    for shape in shapes:
        key = (*shape[:5], *shape[6:])
        uid = ids.get(key)
        if uid is None:
            uid = ids[key] = f"r{len(ids)}"
            entities.append(_requester_entity(uid, shape))
        request = made.get((uid, shape.category))
        if request is None:
            request = made[(uid, shape.category)] = {
                "principal": {"type": "Accord::Requester", "id": uid},
                "action": ACTION,
                "resource": {"type": "Accord::Category", "id": shape.category},
            }
        requests.append(request)
    return requests, entities


def contract_hash(name: str, version: int, policies: str, schema: str) -> str:
    """SHA-256 (hex) of the canonical JSON of the contract's name, version and texts."""
    document = {"contract": name, "version": version, "policies": policies, "schema": schema}
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def compile_contract(name: str, version: int, policies: str, schema: str) -> Contract:
    """Parse and validate a contract; every Cedar complaint is reported in Cedar's words."""
    if not name or type(version) is not int or version < 1:
        raise ContractError("a contract needs a name and a version number (1 or more)")
    try:
        schema_handle = cedarpy.Schema.from_str(schema)
    except (ValueError, RuntimeError) as exc:
        raise ContractError(f"invalid Cedar schema: {exc}") from None
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(policies))
    except (ValueError, RuntimeError) as exc:
        raise ContractError(f"invalid Cedar policies: {exc}") from None
    if parsed.get("templates"):
        raise ContractError("policy templates are not supported in contracts")
    static = parsed.get("staticPolicies") or {}
    if not static:
        raise ContractError("the contract has no policies")
    validation = cedarpy.validate_policies(policies, schema_handle)
    if not validation.validation_passed:
        messages = "; ".join(str(error) for error in validation.errors) or "validation failed"
        raise ContractError(f"policies do not validate against the schema: {messages}")
    rules: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for policy_id, policy in static.items():
        annotations = {
            k: (v if v is not None else "") for k, v in policy.get("annotations", {}).items()
        }
        rule = annotations.get("id")
        if not rule:
            raise ContractError(f"policy {policy_id} has no @id annotation naming its rule")
        if rule in seen:
            raise ContractError(f"two policies share the rule id {rule!r}")
        unknown = set(annotations) - _KNOWN_ANNOTATIONS
        if unknown:
            raise ContractError(
                f"policy {rule!r} has unknown annotations: {', '.join(sorted(unknown))}"
            )
        for flag in ("silent", "break_glass"):
            if flag in annotations and annotations[flag] not in ("true", "false"):
                raise ContractError(f'policy {rule!r}: @{flag} must be "true" or "false"')
        if annotations.get("silent") == "true" and policy.get("effect") != "forbid":
            raise ContractError(f"policy {rule!r}: only a forbid policy can be @silent")
        seen.add(rule)
        rules[policy_id] = annotations
    try:
        policy_set = cedarpy.PolicySet.from_str(policies)
        entities = cedarpy.Entities.from_json_str(_category_entities(), schema_handle)
    except (ValueError, RuntimeError) as exc:
        raise ContractError(f"contract does not load: {exc}") from None
    # The engine sends every request in one shape; the schema must accept it, or evaluation
    # (which skips per-call schema checks) could meet attributes it lacks.
    probe = Shape(
        "probe", "school", (), "probe", "school", DEFAULT_CATEGORY, "TREAT", False, False, Facts()
    )
    requests, requesters = _batch([probe])
    try:
        probed = entities.with_added_json_str(orjson.dumps(requesters).decode(), schema_handle)
        check = cedarpy.is_authorized(requests[0], policy_set, probed, schema_handle)
        problem = check.diagnostics.errors[0] if check.diagnostics.errors else None
    except ValueError as exc:
        problem = str(exc)
    if problem:
        raise ContractError(
            "the schema does not accept the requests Accord makes (action Accord::Action::"
            f'"disclose" by an Accord::Requester on an Accord::Category): {problem}'
        )
    return Contract(
        name=name,
        version=version,
        policies=policies,
        schema=schema,
        hash=contract_hash(name, version, policies, schema),
        rules=rules,
        _policy_set=policy_set,
        _schema=schema_handle,
        _entities=entities,
    )


def contract_from_body(body: dict[str, Any]) -> Contract:
    """Compile the contract a ``contract.proposed`` body carries and check its hash."""
    contract = compile_contract(body["contract"], body["version"], body["policies"], body["schema"])
    if contract.hash != body.get("hash"):
        raise ContractError(f"contract hash {body.get('hash')!r} does not match its texts")
    return contract


def _category_entities() -> str:
    entities = []
    for name in CATEGORIES:
        parent = name.rpartition(".")[0]
        parents = [{"type": "Accord::Category", "id": parent}] if parent else []
        entities.append(
            {"uid": {"type": "Accord::Category", "id": name}, "attrs": {}, "parents": parents}
        )
    return json.dumps(entities)


def read_library(directory: Path) -> tuple[str, str]:
    """The policies (every ``*.cedar`` file, in name order) and schema of a contract directory."""
    files = sorted(directory.glob("*.cedar"))
    if not files:
        raise ContractError(f"{directory} holds no .cedar policy files")
    schemas = sorted(directory.glob("*.cedarschema"))
    if len(schemas) != 1:
        raise ContractError(f"{directory} must hold exactly one .cedarschema file")
    policies = "\n".join(
        f"// --- {path.name}\n{path.read_text(encoding='utf-8')}" for path in files
    )
    return policies, schemas[0].read_text(encoding="utf-8")


def load_library(directory: Path, name: str, version: int) -> Contract:
    policies, schema = read_library(directory)
    return compile_contract(name, version, policies, schema)


def starter_contract() -> Contract:
    """The illustrative starter library (not legal advice)."""
    return load_library(STARTER_DIR, "starter", 1)
