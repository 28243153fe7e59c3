"""``accord demo``: the whole network on one machine, from a fresh clone, in one command.

The first run creates the data directory's keys, an embedded SQLite ledger with the four
agencies admitted, the starter contracts approved and active and a few hundred consents; every
run then starts the four demo agencies and the gateway on 127.0.0.1, composes the supergraph
from the running agencies, starts the health department's ledger peer as the witness whose
cosignature makes each checkpoint final (quorum 1), and prints the GraphiQL URL, sample queries
and tokens. Ctrl-C or SIGTERM stops everything. A second run reuses what the first one wrote;
``--reset`` starts fresh. Bad input (a port in use, an unwritable data directory, a damaged
configuration or key) is one line on stderr and a non-zero exit, with nothing left running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app.cli import CommandError
from app.demo import shown_url
from app.settings import Settings
from examples.agencies.registry import AGENCY_NAMES, DEFAULT_PORTS, TITLES

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 60.0
LOCK_FILE = "demo.lock"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo network: four agencies, the gateway and a consent ledger",
        description="Start four demo agencies, the consent gateway and an embedded ledger on "
        "127.0.0.1 and print the GraphiQL URL, sample queries and tokens. Ctrl-C stops it.",
    )
    parser.add_argument(
        "--port", type=int, help="the gateway's port (default: the port setting, 4000)"
    )
    parser.add_argument(
        "--agency-port",
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="an agency's port (repeatable; default "
        + ", ".join(f"{name}={port}" for name, port in DEFAULT_PORTS.items())
        + ")",
    )
    parser.add_argument(
        "--people", type=int, default=None, help="size of the synthetic population (10000)"
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the demo's keys, ledger and files in the data directory and start fresh",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each server may take to start (default {DEFAULT_TIMEOUT:.0f})",
    )
    parser.set_defaults(handler=run_demo)


# -- checks ------------------------------------------------------------------------------------


def demo_ports(args: argparse.Namespace, settings: Settings) -> dict[str, int]:
    """Every service's port, agencies first, checked for range and clashes."""
    ports = dict(DEFAULT_PORTS)
    for item in args.agency_port:
        name, sep, value = item.partition("=")
        if not sep or name not in AGENCY_NAMES or not value.isdigit():
            raise CommandError(
                f"--agency-port takes NAME=PORT with NAME one of {', '.join(AGENCY_NAMES)}, "
                f"got {item!r}"
            )
        ports[name] = int(value)
    ports["gateway"] = settings.port if args.port is None else args.port
    for name, port in ports.items():
        if not 1 <= port <= 65535:
            flag = "--port" if name == "gateway" else f"--agency-port {name}=PORT"
            raise CommandError(f"{name} port must be between 1 and 65535, not {port}; use {flag}")
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise CommandError(
                f"{seen[port]} and {name} both use port {port}; give each its own with "
                "--port and --agency-port NAME=PORT"
            )
        seen[port] = name
    return ports


def writable_data_dir(data_dir: Path) -> Path:
    """The data directory as an absolute path, created if needed and proven writable."""
    data_dir = data_dir.expanduser().absolute()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CommandError(
            f"data directory {data_dir} is not writable ({exc.strerror or exc}); fix its "
            "permissions or choose another with ACCORD_DATA_DIR"
        ) from None
    return data_dir


def lock_data_dir(data_dir: Path) -> Any:
    """Take the data directory for this demo; a second demo on it would share the ledger's
    single writer (and ``--reset`` would pull it from under the first)."""
    path = data_dir / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - kept open for the life of the demo
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        return handle
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise CommandError(
            f"another accord demo (pid {owner}) is using data directory {data_dir}; stop it "
            "first or choose another directory with ACCORD_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def sqlite_file(dsn: str) -> Path | None:
    """The database file of a ``sqlite:///`` ledger URL, or None for a server database."""
    prefix = "sqlite:///"
    if not dsn.startswith(prefix) or dsn == prefix + ":memory:":
        return None
    return Path(dsn[len(prefix) :].split("?", 1)[0])


def reset(settings: Settings, data_dir: Path) -> list[Path]:
    """Remove what the demo keeps in the data directory; nothing else there is touched."""
    ledger_file = sqlite_file(settings.ledger_dsn)
    if ledger_file is None:
        raise CommandError(
            f"--reset only clears an embedded SQLite ledger, not {shown_url(settings.ledger_dsn)}; "
            "empty that database yourself or unset ACCORD_LEDGER_URL"
        )
    removed = []
    for path in (data_dir / "keys", data_dir / "demo"):
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = ledger_file.with_name(ledger_file.name + suffix)
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


# -- the run -----------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.demo.network import DemoError
    from app.demo.processes import Interrupted, ports_in_use

    if args.people is not None and not 100 <= args.people <= 999_999:
        raise CommandError(f"--people must be between 100 and 999999, not {args.people}")
    if args.timeout <= 0:
        raise CommandError("--timeout must be positive")
    ports = demo_ports(args, settings)
    taken = ports_in_use(ports, HOST)
    if taken:
        listed = ", ".join(f"{port} ({name})" for name, port in taken)
        raise CommandError(
            f"port{'s' if len(taken) > 1 else ''} {listed} on {HOST} already in use; stop what "
            "listens there or choose other ports with --port and --agency-port NAME=PORT"
        )
    data_dir = writable_data_dir(settings.data_dir)
    settings = settings.model_copy(update={"data_dir": data_dir})
    lock = lock_data_dir(data_dir)  # held until this process exits
    if args.reset:
        removed = reset(settings, data_dir)
        print(f"accord: reset: removed {len(removed)} demo files from {data_dir}", flush=True)

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return _run(args, settings, ports, stop)
    except Interrupted:
        print("accord: demo interrupted while starting; everything stopped", file=sys.stderr)
        return 130
    except DemoError as exc:
        raise CommandError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()


def _run(
    args: argparse.Namespace, settings: Settings, ports: dict[str, int], stop: threading.Event
) -> int:
    from app.demo.network import DemoError, bootstrap
    from app.demo.processes import Interrupted, Supervisor
    from app.demo.samples import SAMPLE_PERSON, printed_tokens, tokens, write_samples
    from app.demo.witness import ensure_witness, gateway_witnesses, peer_args
    from app.demo_idp import DemoIdentityProvider
    from app.identity import GATEWAY_PUBLIC_KEY_FILE, KeyFileError, ensure_gateway_key, keys_dir
    from examples.people import DEFAULT_COUNT, Population

    data_dir = settings.data_dir
    files = data_dir / "demo"
    people = Population(count=args.people or DEFAULT_COUNT)
    ledger_file = sqlite_file(settings.ledger_dsn)
    action = "setting up" if ledger_file is not None and not ledger_file.exists() else "checking"
    _say(
        f"accord: {action} the demo network in {data_dir} (ledger {shown_url(settings.ledger_dsn)})"
    )
    try:
        ensure_gateway_key(data_dir)
        idp = DemoIdentityProvider(data_dir)
        idp.init()
        witness = ensure_witness(data_dir)
    except KeyFileError as exc:
        raise DemoError(f"{exc}; or start fresh with --reset") from None
    network = bootstrap(settings, people)
    fresh = network.written > 0
    if stop.is_set():
        raise Interrupted

    supervisor = Supervisor(_global_args(args), stop)
    _say(
        f"accord: starting four agencies, the gateway and a witness on {HOST}; "
        f"logs in {files / 'logs'}"
    )
    try:
        child_env = {
            "ACCORD_DATA_DIR": str(data_dir),
            "ACCORD_LEDGER_URL": settings.ledger_dsn,
            "ACCORD_HOST": HOST,
        }
        agencies = []
        for name in AGENCY_NAMES:
            service = _service(
                name,
                [
                    "agency",
                    name,
                    "--port",
                    str(ports[name]),
                    "--people",
                    str(len(people)),
                    # The key of the gateway this demo starts, whatever else is configured.
                    "--gateway-key",
                    str(keys_dir(data_dir) / GATEWAY_PUBLIC_KEY_FILE),
                ],
                ports[name],
                files,
                child_env,
            )
            supervisor.start(service)
            agencies.append(service)
        for service in agencies:
            supervisor.wait_ready(service, ["/healthz"], args.timeout)

        supergraph = files / "supergraph.graphql"
        _compose(agencies, supergraph, settings.subgraph_timeout_seconds)
        issuers = _merged_issuers(settings, idp)
        subgraphs = [{"name": s.name, "url": f"{s.url}/graphql"} for s in agencies]
        gateway = _service(
            "gateway",
            ["serve", "--supergraph", str(supergraph), "--port", str(ports["gateway"])],
            ports["gateway"],
            files,
            {
                **child_env,
                "ACCORD_PORT": str(ports["gateway"]),
                "ACCORD_ISSUERS": json.dumps(issuers),
                "ACCORD_SUBGRAPHS": json.dumps(subgraphs),
                # Consents people give or withdraw in the citizen view are recorded, and
                # signed, by the demo's health department.
                "ACCORD_CONSENT_RECORDER": settings.consent_recorder or "health",
                # The health department's peer cosigns; a checkpoint is final once it has.
                "ACCORD_WITNESSES": json.dumps(gateway_witnesses(settings, witness)),
                "ACCORD_COSIGNATURE_QUORUM": str(settings.cosignature_quorum or 1),
            },
        )
        supervisor.start(gateway)
        supervisor.wait_ready(gateway, ["/healthz"], args.timeout, optional=["/readyz"])
        # The peer listens on no port; the supervisor watches it like the servers.
        peer = _service(
            "health-peer",
            peer_args(gateway.url, data_dir, witness),
            0,
            files,
            {**child_env, "ACCORD_DATA_DIR": str(witness.home)},
        )
        supervisor.start(peer)

        all_tokens = tokens(data_dir, SAMPLE_PERSON)
        write_samples(files, all_tokens)
        _banner(
            settings, network, fresh, agencies, gateway, printed_tokens(all_tokens), files, witness
        )

        while not stop.wait(0.5):
            dead = supervisor.exited()
            if dead is not None:
                print(
                    f"accord: error: {dead.name} stopped unexpectedly: {dead.last_words()} "
                    f"(log: {dead.log}); stopping the demo",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        print("\naccord: stopping the demo", flush=True)
        return 0
    finally:
        supervisor.stop_all()


def _data_dir_prefix(data_dir: Path) -> str:
    """What a command typed in the current directory needs to find this data directory."""
    default = Settings.model_fields["data_dir"].default
    return "" if data_dir == Path(default).absolute() else f"ACCORD_DATA_DIR={data_dir} "


def _accord_command() -> str:
    """How to run ``accord`` from here: the virtualenv's script (``make demo`` puts none on
    the PATH), relative to the current directory when it is below it."""
    script = Path(sys.executable).parent / "accord"
    if not script.exists():
        return "accord"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _say(line: str) -> None:
    print(line, flush=True)


def _global_args(args: argparse.Namespace) -> list[str]:
    """The options before the command that children must see too (the configuration file)."""
    return ["--config", str(Path(args.config).absolute())] if args.config else []


def _service(name: str, argv: list[str], port: int, files: Path, env: dict[str, str]) -> Any:
    from app.demo.processes import Service

    return Service(name=name, args=argv, port=port, log=files / "logs" / f"{name}.log", env=env)


def _compose(agencies: list[Any], output: Path, timeout: float) -> None:
    from app.demo.network import DemoError
    from app.federation.compose import (
        CompositionError,
        FetchError,
        SubgraphSource,
        compose,
        fetch_sdl,
    )

    sources = []
    for service in agencies:
        url = f"{service.url}/graphql"
        try:
            sources.append(SubgraphSource(service.name, url, fetch_sdl(url, timeout=timeout)))
        except FetchError as exc:
            raise DemoError(f"cannot read {service.name}'s schema: {exc}") from None
    try:
        text = compose(sources, include_accord=True)
    except CompositionError as exc:
        raise DemoError(f"the agencies' schemas do not compose: {exc.issues[0]}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n", encoding="utf-8")


def _merged_issuers(settings: Settings, idp: Any) -> list[dict[str, Any]]:
    """The configured issuers plus the demo's own, as the gateway's ``issuers`` setting."""
    merged = {issuer.issuer: issuer for issuer in settings.issuers}
    for issuer in idp.issuers():
        merged.setdefault(issuer.issuer, issuer)
    return [issuer.model_dump(mode="json", exclude_none=True) for issuer in merged.values()]


def _banner(
    settings: Settings,
    network: Any,
    fresh: bool,
    agencies: list[Any],
    gateway: Any,
    rows: list[tuple[str, str, str]],
    files: Path,
    witness: Any,
) -> None:
    from app.demo.samples import SAMPLE_QUERIES
    from app.demo.witness import ROUND_SECONDS

    graphql = f"{gateway.url}/graphql"
    how = "created" if fresh else "reused"
    lines = [
        "",
        "Accord demo network",
        f"  data directory  {settings.data_dir} ({how})",
        f"  ledger          {shown_url(settings.ledger_dsn)}: {network.entries} entries, "
        f"{len(network.members)} members, {network.consents} demo consents",
        f"  contract        starter {network.contract[:16]} active, approved by "
        f"{', '.join(network.approvals)} ({settings.contract_approvals_required} of "
        f"{len(network.members)} needed)",
    ]
    for service in agencies:
        lines.append(f"  {service.name:<15} {service.url}/graphql  {TITLES[service.name]}")
    lines += [
        f"  {'gateway':<15} {graphql}",
        f"  {'witness':<15} the health department's ledger peer ({witness.name}) copies and "
        "verifies the ledger",
        f"{'':<18}checkpoints are cosigned by {witness.name} (quorum "
        f"{settings.cosignature_quorum or 1}), within about {ROUND_SECONDS:.0f}s: "
        f"{gateway.url}/ledger/checkpoint",
        "",
        f"GraphiQL: {graphql}",
        '  put a token in its Headers tab: {"Authorization": "Bearer <token>"}',
        "  (offline, the same URL shows Accord's query console: put that JSON in Request headers)",
        f"Auditors and citizens: {gateway.url}/ui/ (with the auditor or citizen token)",
        "",
    ]
    lines.append(f"Tokens (bearer, valid 12 hours; also in {files / 'tokens.json'}):")
    for key, label, token in rows:
        lines += [f"  {label} [{key}]", f"    {token}"]
    lines += ["", f"Sample queries (also in {files / 'queries'}):"]
    for sample in SAMPLE_QUERIES:
        lines += [
            "",
            f"# {sample.name}: {sample.shows}",
            f"# POST {gateway.url}{sample.path} with token {sample.token}",
        ]
        lines += sample.query.rstrip("\n").splitlines()
    first = SAMPLE_QUERIES[0]
    body = json.dumps({"query": first.query})
    lines += [
        "",
        "From a shell:",
        f"  TOKEN=$(python3 -c \"import json; print(json.load(open('{files / 'tokens.json'}'))"
        f"['{first.token}'])\")",
        f'  curl -s {graphql} -H "Authorization: Bearer $TOKEN" '
        f"-H 'Content-Type: application/json' -d '{body}'",
        "",
        "Other tokens from the demo identity providers:",
        f"  {_data_dir_prefix(settings.data_dir)}{_accord_command()} keys token --agency health "
        "--purpose ETREAT   (see accord keys token --help)",
        "",
        f"accord: demo ready at {graphql} (Ctrl-C stops everything)",
    ]
    print("\n".join(lines), flush=True)
