"""Compose Federation subgraphs into a Federation 2 supergraph.

The supergraph is what a gateway (Accord, Apollo Router, Hive Gateway) loads: the union of
the subgraphs' types plus ``join__*`` directives saying which subgraph resolves what. Reading
a subgraph lives in :mod:`compose_subgraph`, merging and the federation rules in
:mod:`compose_merge`, and the SDL output in :mod:`compose_print`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from app.federation.compose_merge import Issue, merge
from app.federation.compose_print import print_supergraph
from app.federation.compose_subgraph import SubgraphError, read_subgraph

SERVICE_QUERY = "{ _service { sdl } }"
# Where the gateway serves its own API subgraph (audit, consent, ledger), in process.
ACCORD_URL = "local://accord"


@dataclass(frozen=True)
class SubgraphSource:
    """A subgraph to compose: its name, the URL the gateway routes to, and its SDL."""

    name: str
    url: str
    sdl: str


class CompositionError(Exception):
    """The subgraphs do not compose; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class FetchError(Exception):
    """A subgraph's SDL could not be read from its URL."""


def accord_subgraph() -> SubgraphSource:
    """The gateway's own API as a subgraph, so its ``accord`` root fields join the supergraph."""
    from schema.api import SUBGRAPH_NAME, sdl

    return SubgraphSource(SUBGRAPH_NAME, ACCORD_URL, sdl())


def compose(subgraphs: Sequence[SubgraphSource], *, include_accord: bool = False) -> str:
    """The supergraph SDL for ``subgraphs`` (plus Accord's own API subgraph with
    ``include_accord``); raises :class:`CompositionError` if they clash."""
    return compose_with_hints(subgraphs, include_accord=include_accord)[0]


def compose_with_hints(
    subgraphs: Sequence[SubgraphSource], *, include_accord: bool = False
) -> tuple[str, list[Issue]]:
    """Like :func:`compose`, also returning hints: things composition resolved silently that
    a subgraph author may not have meant (an argument dropped because one subgraph lacks it)."""
    if not subgraphs:
        raise CompositionError([Issue("NO_SUBGRAPHS", "No subgraph to compose")])
    if include_accord and not any(s.url == ACCORD_URL for s in subgraphs):
        subgraphs = [*subgraphs, accord_subgraph()]
    issues: list[Issue] = []
    models = []
    for source in subgraphs:
        try:
            models.append(read_subgraph(source.name, source.url, source.sdl))
        except SubgraphError as exc:
            issues.append(Issue(exc.code, str(exc)))
    if issues:
        raise CompositionError(issues)
    supergraph, issues = merge(models)
    if supergraph is None:
        raise CompositionError(issues)
    return print_supergraph(supergraph), supergraph.hints


def fetch_sdl(url: str, timeout: float = 10.0) -> str:
    """Ask a running subgraph for its SDL with the federation ``_service`` query."""
    body = json.dumps({"query": SERVICE_QUERY}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code} to the _service query") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {url}: {reason}") from None
    except ValueError:
        raise FetchError(f"{url} did not answer the _service query with JSON") from None
    sdl = ((payload or {}).get("data") or {}).get("_service", {}) or {}
    if not isinstance(sdl, dict) or not isinstance(sdl.get("sdl"), str):
        errors = (payload or {}).get("errors") or []
        detail = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
        raise FetchError(
            f"{url} is not a federation subgraph: no _service.sdl in its answer"
            + (f" ({detail})" if detail else "")
        )
    return sdl["sdl"]
