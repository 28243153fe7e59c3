"""The ``accord`` command line.

Each command family lives in its own module under ``app.commands`` and exposes
``register(subparsers)``; this module only wires them together and turns expected failures
into a one-line error and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from app.settings import SettingsError, load_settings

# Modules under app.commands that add sub-commands, in the order `accord --help` lists them.
COMMAND_MODULES: list[str] = [
    "config",
    "keys",
    "agency",
    "compose",
    "ledger",
    "serve",
    "plan",
    "consent",
    "contracts",
    "decisions",
    "demo",
    "peer",
]


class CommandError(Exception):
    """An expected failure of a command: printed as one line, exit code 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or only for ``command`` when it names one: each command
    module imports what it needs (SQLAlchemy, Cedar, strawberry), and a process that runs one
    command should not pay for the others at start-up."""
    parser = argparse.ArgumentParser(
        prog="accord", description="Consent-enforcing GraphQL federation gateway."
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="configuration file (default ./accord.toml)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in [command] if command in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(f"app.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_name(argv))
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        result = args.handler(args, settings)
    except (SettingsError, CommandError) as exc:
        print(f"accord: error: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2) if isinstance(exc, CommandError) else 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def _command_name(argv: Sequence[str]) -> str | None:
    """The first positional argument, skipping the global options and their values."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


if __name__ == "__main__":
    sys.exit(main())
