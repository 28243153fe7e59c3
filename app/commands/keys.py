"""``accord keys``: the data directory's key material, and demo tokens.

``accord keys init`` creates the gateway's Ed25519 key (it signs every call to a subgraph) and
the demo issuers' keys and JWKS, and prints the issuer settings to trust them. ``accord keys
token`` prints a bearer token from a demo issuer, for curl and GraphiQL.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from app.cli import CommandError
from app.demo_idp import CITIZEN_PORTAL, DEFAULT_LIFETIME, OVERSIGHT, DemoIdentityProvider
from app.identity import (
    GATEWAY_JWKS_FILE,
    GATEWAY_PUBLIC_KEY_FILE,
    ROLE_AGENCY_ADMIN,
    ROLE_AUDITOR,
    ROLE_CASE_WORKER,
    ROLE_CITIZEN,
    ROLES,
    KeyFileError,
    ensure_gateway_key,
    gateway_key_path,
)
from app.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create key material; print demo tokens")
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    commands.required = True

    init = commands.add_parser(
        "init", help="create the gateway's signing key and the demo issuers' keys"
    )
    init.set_defaults(handler=init_keys)

    token = commands.add_parser("token", help="print a bearer token from a demo issuer")
    token.add_argument("--agency", help="issuing agency (default: by role)")
    token.add_argument(
        "--purpose",
        action="append",
        default=[],
        metavar="CODE",
        help="purpose of use the token allows (repeat for several; the first is the default)",
    )
    token.add_argument(
        "--role",
        action="append",
        default=[],
        choices=sorted(ROLES),
        help=f"role (repeatable; default {ROLE_CASE_WORKER})",
    )
    token.add_argument("--subject", metavar="PERSON_ID", help="a citizen's own person id")
    token.add_argument("--user", help="user id (the token's sub; default from role and agency)")
    token.add_argument(
        "--hours",
        type=float,
        default=DEFAULT_LIFETIME / 3600,
        help=f"lifetime in hours (default {DEFAULT_LIFETIME // 3600})",
    )
    token.set_defaults(handler=print_token)


def init_keys(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = _writable_data_dir(settings.data_dir)
    try:
        _, gateway_created = ensure_gateway_key(data_dir)
        created = DemoIdentityProvider(data_dir).init()
        issuers = DemoIdentityProvider(data_dir).issuers()
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    key_path = gateway_key_path(data_dir)
    if gateway_created:
        created.insert(0, key_path)
    print(f"gateway signing key: {key_path} ({'created' if gateway_created else 'kept'})")
    print(f"  public key for partner agencies: {key_path.with_name(GATEWAY_PUBLIC_KEY_FILE)}")
    print(f"  as JWKS: {key_path.with_name(GATEWAY_JWKS_FILE)}")
    print(f"demo issuers: {len(issuers)} ({len(created)} files created)")
    print("\n# Trust the demo issuers (accord.toml):")
    for issuer in issuers:
        print("[[issuers]]")
        print(f"agency = {json.dumps(issuer.agency)}")
        print(f"issuer = {json.dumps(issuer.issuer)}")
        print(f"audience = {json.dumps(issuer.audience)}")
        print(f"jwks_file = {json.dumps(str(issuer.jwks_file))}")
        print()
    return 0


def print_token(args: argparse.Namespace, settings: Settings) -> int:
    roles = args.role or [ROLE_CASE_WORKER]
    agency = args.agency or _default_agency(roles)
    if agency is None:
        raise CommandError("--agency is required for this role")
    if ROLE_CITIZEN in roles and not args.subject:
        raise CommandError("a citizen token needs --subject PERSON_ID (e.g. P000001)")
    if ROLE_CASE_WORKER in roles and not args.purpose:
        raise CommandError("a case worker token needs --purpose CODE (e.g. TREAT)")
    if args.hours <= 0:
        raise CommandError("--hours must be positive")
    purposes = [code.strip().upper() for code in args.purpose]
    idp = DemoIdentityProvider(settings.data_dir)
    try:
        token = idp.token(
            agency,
            user=args.user or f"{roles[0].replace('_', '-')}.{args.subject or agency}",
            roles=roles,
            purposes=purposes,
            purpose=purposes[0] if purposes else None,
            subject=args.subject,
            lifetime=int(args.hours * 3600),
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    print(token)
    return 0


def _default_agency(roles: list[str]) -> str | None:
    if ROLE_CITIZEN in roles:
        return CITIZEN_PORTAL
    if ROLE_AUDITOR in roles and ROLE_AGENCY_ADMIN not in roles:
        return OVERSIGHT
    return None


def _writable_data_dir(data_dir: Path) -> Path:
    """The data directory, created if needed; a clear refusal if it cannot be written."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(
            f"cannot create data directory {data_dir} ({exc.strerror}); "
            "choose another with ACCORD_DATA_DIR"
        ) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise CommandError(
            f"data directory {data_dir} is not writable; "
            "fix its permissions or choose another with ACCORD_DATA_DIR"
        )
    return data_dir
