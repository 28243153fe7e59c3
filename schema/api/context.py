"""Who is asking the gateway's own API, and what that lets them see.

The API never trusts an argument to say whose data it may read: the caller's role and, for a
citizen, the person they are come from the verified token, and every query is narrowed here
before it reaches the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

if TYPE_CHECKING:
    from schema.api.backend import Backend

AUDITOR = "auditor"
CITIZEN = "citizen"
AGENCY_ADMIN = "agency_admin"
CASE_WORKER = "case_worker"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: agency, user, roles, and the person id of a citizen."""

    agency: str
    user: str
    roles: frozenset[str]
    subject: str | None = None

    @property
    def view(self) -> str:
        """The widest view the caller's roles give: auditor, agency_admin or citizen."""
        for role in (AUDITOR, AGENCY_ADMIN, CITIZEN):
            if role in self.roles and (role != CITIZEN or self.subject):
                return role
        return ""


@dataclass
class ApiContext:
    """The strawberry context of one request."""

    caller: Caller | None
    backend: Backend
    cache: dict[str, Any]

    def signed_in(self) -> Caller:
        """The caller, whatever their role (the ledger's checkpoint and proofs are public to
        every member's users, as the plain HTTP read path is to peers)."""
        if self.caller is None:
            raise api_error("sign in: the Accord API needs a bearer token", "UNAUTHENTICATED")
        return self.caller

    def require(self, *views: str) -> Caller:
        """The caller, if one of ``views`` applies to them; otherwise a clear refusal."""
        if self.caller is None:
            raise api_error("sign in: the Accord API needs a bearer token", "UNAUTHENTICATED")
        if self.caller.view not in views:
            wanted = " or ".join(views)
            have = ", ".join(sorted(self.caller.roles)) or "none"
            raise api_error(f"this needs the {wanted} role (the token has: {have})", "FORBIDDEN")
        return self.caller


def api_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def bad_input(message: str, **extensions: Any) -> GraphQLError:
    return api_error(message, "BAD_USER_INPUT", **extensions)
