"""The SDL that docs/subgraph-directives.md gives other languages is the real thing."""

from __future__ import annotations

import re

from app.federation.compose import SubgraphSource, compose
from schema.directives import read_annotations
from tests.support import ROOT

DOC = ROOT / "docs" / "subgraph-directives.md"


def graphql_blocks() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_sdl_is_read_as_documented() -> None:
    (sdl,) = graphql_blocks()
    annotations = read_annotations(sdl)
    assert annotations.subjects == {"Person"}
    assert annotations.category("Person", "id") == "identity.basic"
    assert annotations.category("Person", "substanceUseTreatment") == "health.substance_use"
    assert annotations.category("SubstanceUseTreatment", "program") == "health.substance_use"


def test_documented_sdl_composes_with_its_directives_kept() -> None:
    (sdl,) = graphql_blocks()
    supergraph = compose([SubgraphSource("health", "http://127.0.0.1:4001/graphql", sdl)])
    assert read_annotations(supergraph).category("Person", "diagnoses") == "health.diagnosis"


def test_documented_gateway_query_is_valid_against_the_composed_agencies() -> None:
    from graphql import parse, validate

    from app.federation.api_schema import build_api_schema
    from app.federation.supergraph import load_supergraph
    from examples.agencies import AGENCY_NAMES
    from examples.agencies.base import agency_schema

    sources = [
        SubgraphSource(name, f"http://127.0.0.1/{name}", agency_schema(name).as_str())
        for name in AGENCY_NAMES
    ]
    api = build_api_schema(load_supergraph(compose(sources)))
    text = (ROOT / "docs" / "agencies.md").read_text()
    query = re.findall(r"```graphql\n(.*?)```", text, flags=re.S)[0]
    assert "person(id:" in query
    assert validate(api, parse(query)) == []
