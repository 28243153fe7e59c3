"""`accord serve`: the gateway over HTTP, as a real process on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.federation.world import world_supergraph
from tests.support import accord_process, free_port, stop_process, wait_http

# These tests cover plain federation; consent enforcement has its own tests.
PLAIN = {"ACCORD_ENFORCEMENT": "false"}


@pytest.fixture(scope="module")
def gateway_url(world, tmp_path_factory) -> Iterator[str]:
    supergraph = tmp_path_factory.mktemp("serve") / "supergraph.graphql"
    data = supergraph.parent / "data"
    supergraph.write_text(
        world_supergraph({n: world.url(n) for n in ("people", "health", "cases")})
    )
    port = free_port()
    proc = accord_process(
        ["serve", "--supergraph", str(supergraph), "--port", str(port)],
        env={"ACCORD_MAX_BODY_BYTES": "4096", "ACCORD_DATA_DIR": str(data), **PLAIN},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        output = stop_process(proc)
        assert "Traceback" not in output, output


def request(url, body: bytes | None = None, headers: dict | None = None, method=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def post(base, payload, accept="application/json", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    status, headers, data = request(
        f"{base}/graphql",
        body,
        {"content-type": "application/json", "accept": accept},
    )
    return status, headers, json.loads(data)


def test_health_and_a_federated_query(gateway_url):
    status, _, body = request(f"{gateway_url}/healthz")
    assert status == 200
    status, headers, result = post(
        gateway_url,
        {
            "query": "query Q($id: ID!) { person(id: $id) { name riskScore } }",
            "variables": {"id": "p1"},
            "operationName": "Q",
        },
    )
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert result == {"data": {"person": {"name": "Ada", "riskScore": 46}}}


def test_get_runs_queries_but_not_mutations(gateway_url):
    query = urllib.parse.quote('{ person(id: "p2") { name } }')
    status, _, data = request(f"{gateway_url}/graphql?query={query}")
    assert status == 200
    assert json.loads(data) == {"data": {"person": {"name": "Grace"}}}
    mutation = urllib.parse.quote('mutation { closeCase(agency: "HS", number: 2) { status } }')
    status, headers, data = request(f"{gateway_url}/graphql?query={mutation}")
    assert status == 405 and headers["allow"] == "POST"
    assert json.loads(data)["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"


def test_browsers_get_graphiql(gateway_url):
    status, headers, data = request(f"{gateway_url}/graphql", headers={"accept": "text/html"})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"GraphiQL" in data


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("application/json", 200), ("application/graphql-response+json", 400)],
)
def test_graphql_errors_status_follows_the_media_type(gateway_url, accept, expected):
    status, headers, result = post(gateway_url, {"query": "{ person(id: 1) { nope } }"}, accept)
    assert status == expected
    assert headers["content-type"].startswith(accept)
    assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    status, _, result = post(gateway_url, {"query": "{ person("}, accept)
    assert status == expected
    assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "BAD_REQUEST"),
        (b"[1, 2]", 400, "BAD_REQUEST"),
        (b'{"query": 5}', 400, "BAD_REQUEST"),
        (b'{"query": "{ people { id } }", "variables": [1]}', 400, "BAD_REQUEST"),
        (json.dumps({"query": "{ people { id } }" + " " * 5000}).encode(), 413, None),
    ],
)
def test_malformed_requests_are_refused(gateway_url, raw, status, code):
    got, _, result = post(gateway_url, None, raw=raw)
    assert got == status
    if code:
        assert result["errors"][0]["extensions"]["code"] == code
    assert "Traceback" not in json.dumps(result)


def test_unknown_variables_type_is_bad_user_input(gateway_url):
    status, _, result = post(
        gateway_url,
        {
            "query": 'query($n: Int!) { case(agency: "HS", number: $n) { status } }',
            "variables": {"n": "x"},
        },
    )
    assert status == 200
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_sigterm_exits_cleanly(world, tmp_path):
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(
        world_supergraph({n: world.url(n) for n in ("people", "health", "cases")})
    )
    port = free_port()
    proc = accord_process(
        ["serve", "--supergraph", str(supergraph), "--port", str(port)],
        env={"ACCORD_DATA_DIR": str(tmp_path / "data"), **PLAIN},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        output = stop_process(proc)
    assert "Traceback" not in output


def test_malformed_supergraph_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.graphql"
    bad.write_text("type Query {")
    proc = accord_process(
        ["serve", "--supergraph", str(bad), "--port", str(free_port())],
        env={"ACCORD_DATA_DIR": str(tmp_path / "data"), **PLAIN},
    )
    assert proc.wait(timeout=30) == 1
    output = stop_process(proc)
    assert "not valid GraphQL SDL" in output and "Traceback" not in output


def test_configured_subgraph_timeouts_reach_the_executor(tmp_path):
    from app.server import build_gateway
    from app.settings import load_settings

    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(
        world_supergraph({n: f"http://127.0.0.1:9/{n}" for n in ("people", "health", "cases")})
    )
    config = tmp_path / "accord.toml"
    config.write_text(
        f'supergraph = "{supergraph}"\n'
        '[[subgraphs]]\nname = "health"\nurl = "http://127.0.0.1:9/health"\n'
        "timeout_seconds = 0.25\n"
    )
    gateway = build_gateway(load_settings(config))
    assert gateway.executor.timeouts == {"health": 0.25}
