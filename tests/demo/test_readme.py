"""The README stays true: its configuration table, its demo ports and its first query."""

from __future__ import annotations

import re

from app.cli import build_parser
from app.demo.samples import FIRST_QUERY, SAMPLE_QUERIES
from app.settings import Issuer, Settings, Subgraph, Witness
from examples.agencies.registry import DEFAULT_PORTS
from tests.demo.harness import README, readme_answer, readme_query

ROOT = README.parent


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_configuration_table_lists_every_setting_once():
    rows = table_rows(section("Configuration"))
    names = [row[0].strip("`") for row in rows]
    assert sorted(names) == sorted(Settings.model_fields)
    for row in rows:
        name = row[0].strip("`")
        assert row[1] == f"`ACCORD_{name.upper()}`"


def test_configuration_table_describes_every_field_of_list_settings():
    rows = {row[0].strip("`"): row[3] for row in table_rows(section("Configuration"))}
    for name, model in (("issuers", Issuer), ("subgraphs", Subgraph), ("witnesses", Witness)):
        for field in model.model_fields:
            assert f"`{field}`" in rows[name], f"{name}.{field}"


def test_configuration_table_shows_the_real_defaults():
    defaults = {row[0].strip("`"): row[2] for row in table_rows(section("Configuration"))}
    for name, field in Settings.model_fields.items():
        value = field.default
        if isinstance(value, bool):
            assert f"`{str(value).lower()}`" == defaults[name], name
        elif isinstance(value, int | float) or (isinstance(value, str) and value):
            assert f"`{value}`" == defaults[name], name
        elif isinstance(value, list):
            assert defaults[name] == "`[]`", name


def test_demo_ports_match_the_code():
    ports: dict[str, str] = {}
    for _, port, option in table_rows(section("The demo")):
        words = option.strip("`").split()
        if words[0] == "--port":
            ports["gateway"] = port
        else:
            assert words[0] == "--agency-port"
            ports[words[1].split("=")[0]] = port
    assert ports.pop("gateway") == f"{Settings.model_fields['port'].default} (the `port` setting)"
    assert {name: int(port) for name, port in ports.items()} == DEFAULT_PORTS


def test_the_first_query_is_the_one_the_demo_prints():
    assert readme_query() == FIRST_QUERY.query
    assert SAMPLE_QUERIES[0] is FIRST_QUERY
    answer = readme_answer()
    assert set(answer) == {"data", "errors", "extensions"}
    assert answer["errors"][0]["extensions"]["code"] == "CONSENT_REQUIRED"


def test_documented_demo_options_exist():
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]  # type: ignore[union-attr]
    options = {flag for action in demo._actions for flag in action.option_strings}
    text = section("The demo")
    for flag in set(re.findall(r"`(--[a-z-]+)", text)):
        assert flag in options, flag


def test_linked_docs_exist():
    for target in re.findall(r"\]\(([^)#]+)\)", README.read_text(encoding="utf-8")):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
