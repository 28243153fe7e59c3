"""``accord config``: show the configuration Accord resolves from file, environment and flags."""

from __future__ import annotations

import argparse
import json

from app.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="print the resolved configuration as JSON")
    parser.set_defaults(handler=show)


def show(args: argparse.Namespace, settings: Settings) -> int:
    values = settings.model_dump(mode="json")
    values["ledger_dsn"] = settings.ledger_dsn
    print(json.dumps(values, indent=2, sort_keys=True))
    return 0
