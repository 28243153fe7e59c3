"""``accord agency NAME``: serve one demo partner agency as a federation subgraph.

The agency answers only calls that carry a token signed by the gateway, so it needs the
gateway's public key: ``--gateway-key FILE`` (PEM or JWKS), else the ``agency_gateway_key``
setting, else the key ``accord keys init`` wrote into the data directory.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path

from app.cli import CommandError
from app.identity import GATEWAY_PUBLIC_KEY_FILE, keys_dir
from app.settings import Settings
from examples.agencies.registry import AGENCY_NAMES, DEFAULT_PORTS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agency", help="serve a demo partner agency (a federation subgraph) over HTTP"
    )
    parser.add_argument("name", choices=AGENCY_NAMES, help="which agency")
    parser.add_argument("--host", help="address to listen on (default: the host setting)")
    parser.add_argument(
        "--port",
        type=int,
        help="port to listen on (default: "
        + ", ".join(f"{name} {port}" for name, port in DEFAULT_PORTS.items())
        + ")",
    )
    parser.add_argument(
        "--people", type=int, default=None, help="size of the synthetic population (10000)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic people")
    parser.add_argument(
        "--gateway-key", type=Path, help="the gateway's Ed25519 public key (PEM or JWKS file)"
    )
    parser.add_argument(
        "--audience", help="audience gateway tokens must name (default: the agency's name)"
    )
    parser.add_argument(
        "--enforce-fields",
        action="store_true",
        help="refuse governed fields the gateway token does not list as permitted",
    )
    parser.add_argument(
        "--private-sdl",
        action="store_true",
        help="require a gateway token for the { _service { sdl } } query too",
    )
    parser.add_argument(
        "--no-gateway-auth",
        action="store_true",
        help="answer calls without a gateway token (local experiments only)",
    )
    parser.set_defaults(handler=serve_agency)


def serve_agency(args: argparse.Namespace, settings: Settings) -> int:
    from examples.agencies import create_agency_app
    from examples.people import DEFAULT_COUNT, DEFAULT_SEED, Population
    from schema.subgraph_auth import GatewayTokenError, load_public_keys

    host = args.host or settings.host
    port = DEFAULT_PORTS[args.name] if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be between 0 and 65535, not {port}")
    try:
        people = Population(
            count=DEFAULT_COUNT if args.people is None else args.people,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
        )
    except ValueError as exc:
        raise CommandError(f"--people: {exc}") from None

    keys = None
    if not args.no_gateway_auth:
        key_file = _gateway_key_file(args.gateway_key, settings)
        try:
            keys = load_public_keys(key_file)
        except GatewayTokenError as exc:
            raise CommandError(f"{exc}; pass --gateway-key FILE") from None

    app = create_agency_app(
        args.name,
        people=people,
        gateway_keys=keys,
        audience=args.audience,
        require_gateway_token=not args.no_gateway_auth,
        enforce_permitted_fields=args.enforce_fields,
        public_sdl=not args.private_sdl,
    )
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", server_header=False
    )
    server = uvicorn.Server(config)
    auth = (
        "no gateway authentication"
        if keys is None
        else f"gateway tokens for {args.audience or args.name!r}"
    )
    print(
        f"accord: agency {args.name} serving {len(people)} people at "
        f"http://{host}:{bound_port}/graphql ({auth})",
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _gateway_key_file(explicit: Path | None, settings: Settings) -> Path:
    if explicit is not None:
        return explicit
    if settings.agency_gateway_key is not None:
        return settings.agency_gateway_key
    default = keys_dir(settings.data_dir) / GATEWAY_PUBLIC_KEY_FILE
    if default.exists():
        return default
    raise CommandError(
        f"no gateway public key: run 'accord keys init' (writes {default}), "
        "pass --gateway-key FILE or set ACCORD_AGENCY_GATEWAY_KEY"
    )


def _bind(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is one clear error instead of a log line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use; choose another with --port"
            ) from None
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    if sys.platform != "win32":
        sock.setblocking(False)
    return sock
