"""``accord plan``: print the query plan the gateway would run for an operation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli import CommandError
from app.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plan", help="print the query plan of an operation")
    parser.add_argument("--supergraph", type=Path, help="supergraph SDL file")
    parser.add_argument("query", help="operation text, a file name, or - for stdin")
    parser.add_argument("--operation-name", help="which operation of the document to plan")
    parser.add_argument("--variables", help="JSON object of variables (for @skip/@include)")
    parser.set_defaults(handler=plan)


def plan(args: argparse.Namespace, settings: Settings) -> int:
    from app.federation.errors import PlanningError, RequestError, SupergraphError
    from app.federation.gateway import Gateway
    from app.federation.supergraph import load_supergraph_file

    path = args.supergraph or settings.supergraph
    if path is None:
        raise CommandError("no supergraph: pass --supergraph FILE or set supergraph in config")
    query = args.query
    if query == "-":
        query = sys.stdin.read()
    elif Path(query).is_file():
        query = Path(query).read_text(encoding="utf-8")
    try:
        variables = json.loads(args.variables) if args.variables else {}
    except json.JSONDecodeError as exc:
        raise CommandError(f"--variables is not valid JSON: {exc}") from None
    try:
        gateway = Gateway(load_supergraph_file(path))
        print(gateway.plan(query, args.operation_name, variables).describe())
    except SupergraphError as exc:
        raise CommandError(str(exc)) from None
    except RequestError as exc:
        raise CommandError(f"{exc.code}: {exc}") from None
    except PlanningError as exc:
        raise CommandError(f"cannot plan: {exc}") from None
    return 0
