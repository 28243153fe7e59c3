"""Demo partner agencies: strawberry Federation v2 subgraphs over one synthetic population.

``create_agency_app("health", people=..., gateway_keys=...)`` builds an agency's ASGI app;
``accord agency health --port 4001`` serves it. GraphQL is imported on first use, so the
command line stays quick to start.
"""

from typing import Any

from examples.agencies.registry import AGENCY_NAMES, DEFAULT_PORTS, TITLES

__all__ = ["AGENCY_NAMES", "DEFAULT_PORTS", "TITLES", "create_agency_app"]


def __getattr__(name: str) -> Any:
    if name == "create_agency_app":
        from examples.agencies.base import create_agency_app

        return create_agency_app
    raise AttributeError(name)
