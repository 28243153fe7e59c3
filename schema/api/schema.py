"""The gateway's own API as a Federation 2 subgraph named ``accord``.

Its root fields ``Query.accord`` and ``Mutation.accord`` compose into the supergraph like any
agency's, so one endpoint serves both the federated data and the audit, consent and ledger
API, and a client's tooling sees one schema.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from ledger.log import LedgerUnavailable
from schema.api.context import ApiContext
from schema.api.resolvers import AccordMutation, AccordQuery

SUBGRAPH_NAME = "accord"


@strawberry.type
class Query:
    @strawberry.field(description="Accord's own API: audit, consent, contracts, ledger.")
    def accord(self) -> AccordQuery:
        return AccordQuery()


@strawberry.type
class Mutation:
    @strawberry.field(description="Accord's own mutations: reviews and consents.")
    def accord(self) -> AccordMutation:
        return AccordMutation()


def _masked(error: GraphQLError) -> bool:
    """Errors the API raised on purpose keep their message; anything else is hidden."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError | LedgerUnavailable)


class _ErrorCodes(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_masked, error_message="Internal server error")


class _Schema(strawberry.federation.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log only what went wrong inside; refusals and bad input are answers, not faults."""
        unexpected = [e for e in errors if _masked(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


@cache
def api_schema() -> strawberry.federation.Schema:
    return _Schema(
        query=Query,
        mutation=Mutation,
        extensions=[_ErrorCodes],
    )


def sdl() -> str:
    """The subgraph SDL that composition reads (what ``{ _service { sdl } }`` answers)."""
    result = api_schema().execute_sync("{ _service { sdl } }")
    assert result.data is not None
    return result.data["_service"]["sdl"]


async def execute(payload: Any, context: ApiContext) -> dict[str, Any]:
    """Run one GraphQL-over-HTTP request body against the API; returns the response body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return {
            "errors": [{"message": "request needs a query", "extensions": {"code": "BAD_REQUEST"}}]
        }
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return {
            "errors": [
                {"message": "variables must be an object", "extensions": {"code": "BAD_REQUEST"}}
            ]
        }
    result = await api_schema().execute(
        payload["query"],
        variable_values=variables,
        context_value=context,
        operation_name=payload.get("operationName"),
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [_formatted(e) for e in result.errors]
    return response


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = error.formatted
    original = error.original_error
    if isinstance(original, LedgerUnavailable):
        formatted["extensions"] = {"code": "LEDGER_UNAVAILABLE"}
    elif "extensions" not in formatted or "code" not in formatted.get("extensions", {}):
        formatted.setdefault("extensions", {})["code"] = (
            "INTERNAL_SERVER_ERROR" if original is not None else "GRAPHQL_VALIDATION_FAILED"
        )
    return formatted
