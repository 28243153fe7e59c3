"""``accord consent``: record, revoke and show a person's consents.

A consent is recorded by a member agency: built from flags or imported from a FHIR R5 Consent
resource, signed by that agency's key as a JWS, and appended as ``consent.granted``. The person
is named by pseudonym only; ``--subject-id`` pseudonymises an identifier with the subject's
secret (kept off the ledger), ``--subject`` takes a pseudonym as is.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app.cli import CommandError
from app.commands.contracts import append, member_signer, print_json, read_state
from app.settings import Settings
from ledger import pseudonym, store
from ledger.consent import (
    GRANTOR_KINDS,
    ConsentError,
    consent_from_fhir,
    consent_to_fhir,
    new_consent,
    sign_consent,
)
from ledger.entries import new_entry, sign_entry
from ledger.registry import LedgerState


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("consent", help="record, revoke and show consents")
    commands = parser.add_subparsers(dest="consent_command", metavar="ACTION")
    commands.required = True

    grant = commands.add_parser("grant", help="record a consent (from flags or a FHIR resource)")
    grant.add_argument("--agency", required=True, help="the recording member agency (signs)")
    grant.add_argument("--key", type=Path, help="its key file (default: the data directory's)")
    who = grant.add_mutually_exclusive_group()
    who.add_argument("--subject", help="the person's pseudonym")
    who.add_argument("--subject-id", help="the person's identifier, pseudonymised here")
    grant.add_argument("--fhir", type=Path, help="a FHIR R5 Consent resource (JSON file)")
    grant.add_argument("--id", help="consent id (default: a new UUID, or the FHIR id)")
    grant.add_argument(
        "--grantee",
        action="append",
        default=[],
        metavar="PARTY",
        help="agency id, kind:<kind> or programme:<name> (repeatable)",
    )
    grant.add_argument("--decision", choices=("permit", "deny"), default="permit")
    grant.add_argument(
        "--category",
        action="append",
        default=[],
        metavar="CATEGORY",
        help="limit to data categories (repeatable; default all)",
    )
    grant.add_argument(
        "--purpose",
        action="append",
        default=[],
        metavar="CODE",
        help="limit to purposes of use (repeatable; default any)",
    )
    grant.add_argument("--grantor", choices=GRANTOR_KINDS, default="self")
    grant.add_argument("--adult", action="store_true", help="the person consented as an adult")
    grant.add_argument(
        "--days",
        type=int,
        default=None,
        help="validity in days (default: the default_consent_days setting)",
    )
    grant.set_defaults(handler=grant_consent)

    revoke = commands.add_parser("revoke", help="revoke a recorded consent")
    revoke.add_argument("consent_id")
    revoke.add_argument("--agency", required=True, help="the member agency recording it")
    revoke.add_argument("--key", type=Path, help="its key file")
    revoke.add_argument("--reason", default="withdrawn by the person")
    revoke.set_defaults(handler=revoke_consent)

    show = commands.add_parser("show", help="show consents as JSON (or FHIR)")
    target = show.add_mutually_exclusive_group(required=True)
    target.add_argument("consent_id", nargs="?")
    target.add_argument("--subject", help="every consent of this pseudonym")
    target.add_argument("--subject-id", help="every consent of this person")
    show.add_argument("--as-of", type=int, default=None, help="ledger index (default: now)")
    show.add_argument("--fhir", action="store_true", help="print FHIR R5 Consent resources")
    show.set_defaults(handler=show_consent)


def _pseudonym(settings: Settings, subject_id: str, create: bool = True) -> str | None:
    """The person's pseudonym; without ``create``, None when they have no secret (and so no
    entries): looking someone up must not mint a secret for them."""
    engine = store.make_engine(settings.ledger_dsn)
    try:
        with engine.begin() as connection:
            store.create_schema(connection)
            if not create:
                table = store.secrets_table
                found = connection.execute(
                    select(table.c.secret).where(table.c.subject_id == subject_id)
                ).scalar_one_or_none()
                return pseudonym.pseudonym(subject_id, bytes(found)) if found else None
            return pseudonym.pseudonym(subject_id, pseudonym.secret_for(connection, subject_id))
    except pseudonym.PseudonymError as exc:
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()


def grant_consent(args: argparse.Namespace, settings: Settings) -> int:
    signer = member_signer(settings, args.agency, args.key)
    subject = args.subject or (_pseudonym(settings, args.subject_id) if args.subject_id else None)
    days = args.days if args.days is not None else settings.default_consent_days
    if days <= 0:
        raise CommandError("--days must be positive")
    try:
        if args.fhir:
            try:
                resource = json.loads(args.fhir.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read FHIR resource {args.fhir}: {exc}") from None
            if args.id:
                resource["id"] = args.id
            artefact = consent_from_fhir(resource, subject=subject, default_days=days)
        else:
            if subject is None:
                raise CommandError("name the person with --subject or --subject-id (or --fhir)")
            if not args.grantee:
                raise CommandError("name at least one --grantee")
            provisions = []
            if (args.category or args.purpose) and args.decision == "deny":
                raise CommandError(
                    "a consent that denies only some data cannot be built from flags (its base "
                    "decision would permit the rest); use --decision deny alone to deny "
                    "everything to the grantees, or --fhir"
                )
            if args.category or args.purpose:
                # A consent limited to some data: the base decision is the opposite, and one
                # provision reverses it for exactly the named categories and purposes.
                provisions = [{"categories": args.category, "purposes": args.purpose}]
            artefact = new_consent(
                id=args.id or str(uuid.uuid4()),
                subject=subject,
                grantor={"kind": args.grantor},
                grantees=args.grantee,
                decision="deny" if provisions else args.decision,
                provisions=provisions,
                start=datetime.now(UTC).replace(microsecond=0),
                default_days=days,
                subject_adult=args.adult,
            )
        jws = sign_consent(artefact, signer.private, args.agency)
    except ConsentError as exc:
        raise CommandError(str(exc)) from None
    body = {"consent_id": artefact.id, "subject": artefact.subject, "jws": jws}
    entry = sign_entry(new_entry("consent.granted", body, author=args.agency), signer)
    (index,) = append(settings, lambda state: [entry])
    print_json(
        {
            "consent_id": artefact.id,
            "subject": artefact.subject,
            "index": index,
            "expires": artefact.period.end.isoformat(),
        }
    )
    return 0


def revoke_consent(args: argparse.Namespace, settings: Settings) -> int:
    signer = member_signer(settings, args.agency, args.key)
    record = read_state(settings).consents.get(args.consent_id)
    if record is None:
        raise CommandError(f"consent {args.consent_id!r} is not recorded")
    body = {"consent_id": args.consent_id, "subject": record.consent.subject, "reason": args.reason}
    entry = sign_entry(new_entry("consent.revoked", body, author=args.agency), signer)
    (index,) = append(settings, lambda state: [entry])
    print_json({"consent_id": args.consent_id, "revoked_index": index})
    return 0


def show_consent(args: argparse.Namespace, settings: Settings) -> int:
    state = read_state(settings)
    if args.as_of is not None:
        state = _as_of(settings, args.as_of)
    if args.consent_id:
        record = state.consents.get(args.consent_id)
        if record is None:
            raise CommandError(f"consent {args.consent_id!r} is not recorded")
        records = [record]
    else:
        subject = args.subject or _pseudonym(settings, args.subject_id, create=False)
        records = [r for r in state.consents.values() if r.consent.subject == subject]
    out = []
    for record in records:
        if args.fhir:
            out.append(consent_to_fhir(record.consent))
            continue
        out.append(
            {
                "consent": record.consent.to_payload(),
                "recorded_by": record.author,
                "signed_by": record.signer,
                "granted_index": record.granted_index,
                "revoked_index": record.revoked_index,
                "revoke_reason": record.revoke_reason,
            }
        )
    print_json(out if not args.consent_id else out[0])
    return 0


def _as_of(settings: Settings, index: int) -> LedgerState:
    from ledger.registry import load_state

    engine = store.make_engine(settings.ledger_dsn)
    try:
        with engine.connect() as connection, connection.begin():
            if not 0 <= index <= store.head_size(connection):
                raise CommandError(f"--as-of {index} is beyond the ledger")
            return load_state(connection, index, settings.contract_approvals_required)
    finally:
        engine.dispose()
