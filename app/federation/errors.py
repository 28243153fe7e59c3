"""Errors of the federation engine, and the shape of a GraphQL error sent to clients."""

from __future__ import annotations

from typing import Any


class SupergraphError(Exception):
    """The supergraph SDL cannot be loaded: says what is wrong and where."""


class PlanningError(Exception):
    """An operation valid against the API schema cannot be planned over the subgraphs."""


class RequestError(Exception):
    """A client request that is refused before execution (parse, validation, variables)."""

    def __init__(self, message: str, code: str, status: int = 400, locations: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.locations = locations

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": str(self), "extensions": {"code": self.code}}
        if self.locations:
            error["locations"] = self.locations
        return error


def graphql_error(
    message: str, path: list[Any] | None = None, code: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """A GraphQL error object as it appears in a response's ``errors`` list."""
    error: dict[str, Any] = {"message": message}
    if path is not None:
        error["path"] = path
    if code is not None:
        extensions = {"code": code, **extensions}
    if extensions:
        error["extensions"] = extensions
    return error
