"""``accord compose`` adds the gateway's own API subgraph to a network of Accord agencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.federation.compose import ACCORD_URL
from app.federation.supergraph import load_supergraph
from examples.agencies import AGENCY_NAMES
from examples.agencies.base import agency_schema
from schema.api import sdl


def _args(tmp_path: Path) -> list[str]:
    args = []
    for name in AGENCY_NAMES:
        path = tmp_path / f"{name}.graphql"
        path.write_text(agency_schema(name).as_str(), encoding="utf-8")
        args += ["-s", name, f"http://127.0.0.1:1/{name}", str(path)]
    return args


def test_the_accord_subgraph_joins_an_accord_network(tmp_path, capsys):
    output = tmp_path / "supergraph.graphql"
    assert main(["compose", *_args(tmp_path), "-o", str(output)]) == 0
    supergraph = load_supergraph(output.read_text())
    urls = {graph.name: graph.url for graph in supergraph.graphs.values()}
    assert urls["accord"] == ACCORD_URL
    assert "accord: AccordQuery!" in output.read_text()
    assert "accord: AccordMutation!" in output.read_text()


def test_no_accord_leaves_it_out(tmp_path, capsys):
    output = tmp_path / "supergraph.graphql"
    assert main(["compose", *_args(tmp_path), "--no-accord", "-o", str(output)]) == 0
    assert "AccordQuery" not in output.read_text()
    assert ACCORD_URL not in output.read_text()


def test_the_api_sdl_is_a_subgraph_of_its_own_types():
    text = sdl()
    assert "type Query" in text and "type Mutation" in text
    names = [line.split()[1] for line in text.splitlines() if line.startswith("type ")]
    assert all(n.startswith("Accord") or n in ("Query", "Mutation", "_Service") for n in names)


@pytest.mark.parametrize("field", ["disclosures", "denials", "breakGlassReview", "ledger"])
def test_every_promised_root_field_is_in_the_schema(field):
    assert f"  {field}(" in sdl() or f"  {field}:" in sdl()
