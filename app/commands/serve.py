"""``accord serve``: run the gateway over a supergraph on one port.

uvicorn runs with uvloop and httptools (about 3x the throughput of its pure-Python stack) and
exits cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import CommandError
from app.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the federated GraphQL API")
    parser.add_argument("--supergraph", type=Path, help="supergraph SDL file")
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=int, help="port to listen on (default from settings)")
    parser.set_defaults(handler=serve)


def _server_class():
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises a captured SIGTERM after shutdown; Accord exits 0 instead."""

        @contextlib.contextmanager
        def capture_signals(self):
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
            yield

    return Server


def serve(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {}
    if args.supergraph is not None:
        overrides["supergraph"] = args.supergraph
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if overrides:
        settings = load_settings(args.config, **overrides)
    if settings.supergraph is None:
        raise CommandError("no supergraph: pass --supergraph FILE or set supergraph in config")
    # Load once before binding so a malformed supergraph is a one-line error, not a traceback.
    from app.federation.errors import SupergraphError
    from app.server import build_gateway

    try:
        gateway = build_gateway(settings)
    except SupergraphError as exc:
        raise CommandError(str(exc)) from None
    if settings.enforcement:
        _check_enforcement(settings, gateway)

    import uvicorn

    from app.server import create_app

    _Server = _server_class()
    app = create_app(settings, gateway)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    server = _Server(config)
    print(f"accord: serving http://{settings.host}:{settings.port}/graphql", flush=True)
    server.run()
    if not server.started:
        raise CommandError("the gateway did not start; the reason is logged above")
    return 0


def _check_enforcement(settings: Settings, gateway) -> None:
    """Refuse to start, in one line, where enforcement could not work: Accord directives the
    gateway cannot read, issuer keys it cannot load, a ledger store it cannot reach."""
    import sys

    from app.enforcement.governed import GovernedFields
    from app.identity import Authenticator
    from schema.directives import DirectiveError

    try:
        GovernedFields.from_supergraph(gateway.supergraph)
    except DirectiveError as exc:
        raise CommandError(f"supergraph: {exc}") from None
    Authenticator.from_settings(settings)  # unusable issuer keys raise a settings error
    from ledger import store

    try:
        engine = store.make_engine(settings.ledger_dsn, writer=True)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as exc:  # any reason the store cannot be reached is a one-line error
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(f"cannot open the ledger at {settings.ledger_dsn}: {detail}") from None
    if not settings.issuers:
        print(
            "accord: warning: no trusted issuers configured; every request will be refused",
            file=sys.stderr,
            flush=True,
        )
