"""The gateway's own GraphQL API (audit, consent, contracts, ledger), a strawberry subgraph."""

from schema.api.backend import Backend
from schema.api.context import ApiContext, Caller
from schema.api.schema import SUBGRAPH_NAME, api_schema, execute, sdl

__all__ = ["ApiContext", "Backend", "Caller", "SUBGRAPH_NAME", "api_schema", "execute", "sdl"]
