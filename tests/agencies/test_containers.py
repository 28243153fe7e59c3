"""The Dockerfile and docker-compose.yml, checked without Docker: what they run must be the
``accord`` commands the tests run, as a non-root user, with health checks that hit /healthz on
the port the command listens on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from pydantic import TypeAdapter

from app.cli import build_parser
from app.identity import GATEWAY_PUBLIC_KEY_FILE, KEYS_DIR
from app.settings import Settings, Subgraph
from examples.agencies import AGENCY_NAMES
from tests.support import ROOT

HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(?P<port>[^/]+)/healthz")


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"), cache_content=True)
    assert parser.content, "Dockerfile is empty"
    return parser


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def parse_accord(argv: list[str]) -> Any:
    """Parse ``accord ARGV`` as the CLI would; a command the CLI lacks fails the test."""
    assert argv, "empty command"
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`accord {shlex.join(argv)}` is not a valid accord command")
    assert callable(args.handler)
    return args


def stages(dockerfile: DockerfileParser) -> list[list[dict]]:
    result: list[list[dict]] = []
    for instruction in dockerfile.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"{value} should use the exec (JSON array) form"
    return parsed


def test_image_is_multistage_slim_python_311(dockerfile: DockerfileParser) -> None:
    args = {
        i["value"].split("=", 1)[0]: i["value"].split("=", 1)[1]
        for i in dockerfile.structure
        if i["instruction"] == "ARG" and "=" in i["value"]
    }
    froms = [i["value"] for i in dockerfile.structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2, "the image should be built in stages"
    for value in froms:
        image = value.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image
    runtime = stages(dockerfile)[-1]
    copies = [i["value"] for i in runtime if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=") for c in copies), "runtime copies the build's output"
    assert not any(i["instruction"] == "RUN" and "pip install" in i["value"] for i in runtime)


def test_runtime_runs_as_an_unprivileged_user(dockerfile: DockerfileParser) -> None:
    runtime = stages(dockerfile)[-1]
    users = [i["value"].split(":")[0].strip() for i in runtime if i["instruction"] == "USER"]
    assert users, "the runtime stage must set USER"
    assert users[-1] not in ("root", "0")
    assert dockerfile.envs["ACCORD_DATA_DIR"] and dockerfile.envs["ACCORD_HOST"] == "0.0.0.0"


def test_default_command_is_an_accord_command(dockerfile: DockerfileParser) -> None:
    runtime = stages(dockerfile)[-1]
    entrypoint = [exec_form(i["value"]) for i in runtime if i["instruction"] == "ENTRYPOINT"]
    cmd = [exec_form(i["value"]) for i in runtime if i["instruction"] == "CMD"]
    assert entrypoint[-1] == ["accord"]
    assert cmd[-1][0] == "serve"
    assert cmd[-1][cmd[-1].index("--port") + 1] == dockerfile.envs["ACCORD_PORT"]
    assert cmd[-1][cmd[-1].index("--supergraph") + 1].startswith(dockerfile.envs["ACCORD_DATA_DIR"])
    parse_accord(cmd[-1])


def test_healthcheck_asks_healthz_on_the_served_port(dockerfile: DockerfileParser) -> None:
    runtime = stages(dockerfile)[-1]
    checks = [i["value"] for i in runtime if i["instruction"] == "HEALTHCHECK"]
    assert checks, "the runtime stage needs a HEALTHCHECK"
    check = checks[-1]
    assert "--interval=" in check and "--timeout=" in check
    command = exec_form(check[check.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    assert "/healthz" in command[-1] and "ACCORD_PORT" in command[-1]
    assert dockerfile.envs["ACCORD_PORT"] == "4000"
    exposed = [i["value"] for i in runtime if i["instruction"] == "EXPOSE"]
    assert exposed == [dockerfile.envs["ACCORD_PORT"]]


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".accord", "**/*.pem", ".env", "accord.toml"):
        assert entry in ignored, entry


def accord_services(compose: dict[str, Any]) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("accord:")
    }


def test_compose_services_run_existing_accord_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"gateway", "postgres", "health", "education", "human-services", "courts"} <= set(
        services
    )
    for service in accord_services(compose).values():
        assert service.get("user") not in ("root", "0", "0:0")
    commands = {name: s["command"] for name, s in accord_services(compose).items()}
    gateway = commands.pop("gateway")
    for command in commands.values():
        parse_accord(command)
    assert gateway[0] == "serve"
    parse_accord(gateway)


def test_agencies_listen_where_the_gateway_and_healthchecks_look(compose: dict[str, Any]) -> None:
    services = accord_services(compose)
    gateway_env = services["gateway"]["environment"]
    subgraphs = TypeAdapter(list[Subgraph]).validate_json(gateway_env["ACCORD_SUBGRAPHS"])
    by_name = {subgraph.name: urlsplit(subgraph.url) for subgraph in subgraphs}
    assert set(by_name) == set(AGENCY_NAMES)
    agencies = {}
    for service_name, service in services.items():
        if service["command"][0] != "agency":
            continue
        args = parse_accord(service["command"])
        agencies[args.name] = service_name
        assert args.port is not None, f"{service_name} should name its port"
        assert [str(args.port)] == [str(p) for p in service["expose"]]
        url = HEALTH_URL.search(" ".join(service["healthcheck"]["test"]))
        assert url and int(url["port"]) == args.port, service_name
        # The gateway reaches this agency by its service name, on the port it listens on.
        target = by_name[args.name]
        assert (target.hostname, target.port, target.path) == (
            service_name,
            args.port,
            "/graphql",
        )
        assert service["environment"]["ACCORD_HOST"] == "0.0.0.0"
    assert set(agencies) == set(AGENCY_NAMES)
    composer = services["supergraph"]
    assert composer["environment"]["ACCORD_SUBGRAPHS"] == gateway_env["ACCORD_SUBGRAPHS"]
    assert set(composer["depends_on"]) == set(agencies.values())


def test_agencies_trust_the_key_the_keys_service_writes(compose: dict[str, Any]) -> None:
    services = accord_services(compose)
    keys = services["keys"]
    assert parse_accord(keys["command"]).keys_command == "init"
    (volume, data_dir) = keys["volumes"][0].split(":")[:2]
    assert data_dir == "/var/lib/accord"
    for name, service in services.items():
        if service["command"][0] != "agency":
            continue
        mounts = {m.split(":")[0]: m.split(":")[1:] for m in service["volumes"]}
        assert mounts[volume][1:] == ["ro"], f"{name} mounts the gateway's data read-only"
        expected = f"{mounts[volume][0]}/{KEYS_DIR}/{GATEWAY_PUBLIC_KEY_FILE}"
        assert service["environment"]["ACCORD_AGENCY_GATEWAY_KEY"] == expected
        assert service["depends_on"]["keys"]["condition"] == "service_completed_successfully"


def test_gateway_uses_postgres_and_publishes_only_itself(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = services["gateway"]
    env = gateway["environment"]
    assert env["ACCORD_LEDGER_URL"].startswith("postgresql+psycopg://accord:${POSTGRES_PASSWORD:?")
    assert "@postgres:5432/" in env["ACCORD_LEDGER_URL"]
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )
    assert [p.rsplit(":", 1)[1] for p in gateway["ports"]] == [env["ACCORD_PORT"]]
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["gateway"]
    # The gateway serves the supergraph the composer writes, on the port it publishes.
    command = gateway["command"]
    supergraph_file = command[command.index("--supergraph") + 1]
    assert parse_accord(services["supergraph"]["command"]).output == Path(supergraph_file)
    assert command[command.index("--port") + 1] == env["ACCORD_PORT"]


def test_every_accord_variable_in_compose_is_a_setting(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name, service in accord_services(compose).items():
        for variable in service.get("environment", {}):
            assert variable.startswith("ACCORD_"), f"{name}: {variable}"
            assert variable.removeprefix("ACCORD_").lower() in fields, f"{name}: {variable}"
