"""``accord compose``: build a Federation 2 supergraph from partner agencies' subgraphs.

Subgraphs come from ``--subgraph NAME URL [SDL_FILE]`` (repeatable) or, without that flag,
from ``subgraphs`` in the configuration file. A subgraph without an SDL file is asked for its
SDL at URL with the federation ``{ _service { sdl } }`` query. When the subgraphs use Accord's
directives, the gateway's own API subgraph (``accord``) is added unless ``--no-accord`` is
given. The supergraph goes to stdout or to
``--output``; nothing is written when composition fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from app.cli import CommandError
from app.federation.compose import (
    CompositionError,
    FetchError,
    SubgraphSource,
    compose_with_hints,
    fetch_sdl,
)
from app.settings import Settings
from schema.directives import SPEC_URL_PREFIX


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compose",
        help="compose subgraphs into a supergraph",
        description="Compose Federation 1 and 2 subgraphs into a Federation 2 supergraph SDL.",
    )
    parser.add_argument(
        "-s",
        "--subgraph",
        action="append",
        nargs="+",
        metavar=("NAME URL", "SDL_FILE"),
        help="a subgraph: its name, the URL the gateway calls, and optionally a file with its "
        "SDL (otherwise the SDL is fetched from URL); repeat for each subgraph. Default: the "
        "subgraphs of the configuration file",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the supergraph to this file")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for each subgraph's SDL"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep retrying subgraphs that cannot be reached yet for up to this long (for a "
        "deployment that starts the gateway and the agencies together)",
    )
    parser.add_argument(
        "--no-accord",
        action="store_true",
        help="leave out the gateway's own API subgraph (accord: audit, consent, ledger), "
        "which is otherwise composed into a network of Accord-annotated subgraphs and served "
        "by the gateway in process",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print composition hints")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    timeout = args.timeout or settings.subgraph_timeout_seconds
    specs = _specs(args, settings)
    deadline = time.monotonic() + max(args.wait, 0.0)
    sources = [_source(name, url, sdl_file, timeout, deadline) for name, url, sdl_file in specs]
    try:
        supergraph, hints = compose_with_hints(
            sources, include_accord=_governed(sources) and not args.no_accord
        )
    except CompositionError as exc:
        count = len(exc.issues)
        print(
            f"accord: error: composition failed with {count} error{'s' if count > 1 else ''}:",
            file=sys.stderr,
        )
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 1
    if not args.quiet:
        for hint in hints:
            print(f"accord: hint: {hint}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(supergraph + "\n")
    else:
        _write_atomically(args.output, supergraph + "\n")
        print(f"wrote supergraph of {len(sources)} subgraphs to {args.output}", file=sys.stderr)
    return 0


def _governed(sources: list[SubgraphSource]) -> bool:
    """Whether the subgraphs form an Accord network (some link Accord's directives): then the
    gateway's own API joins them; plain subgraphs compose exactly as any other composer would."""
    return any(SPEC_URL_PREFIX in source.sdl for source in sources)


def _specs(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str, Path | None]]:
    if args.subgraph:
        specs = []
        for values in args.subgraph:
            if len(values) not in (2, 3):
                raise CommandError(
                    f"--subgraph takes NAME URL [SDL_FILE], got {len(values)} values: "
                    + " ".join(values)
                )
            name, url = values[0], values[1]
            specs.append((name, url, Path(values[2]) if len(values) == 3 else None))
        return specs
    if not settings.subgraphs:
        raise CommandError(
            "no subgraphs: pass --subgraph NAME URL [SDL_FILE] or list subgraphs in the "
            "configuration file"
        )
    return [(s.name, s.url, s.sdl_file) for s in settings.subgraphs]


def _source(
    name: str, url: str, sdl_file: Path | None, timeout: float, deadline: float
) -> SubgraphSource:
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"subgraph {name}: URL must start with http:// or https://, got {url}")
    if sdl_file is None:
        while True:
            try:
                return SubgraphSource(name, url, fetch_sdl(url, timeout=timeout))
            except FetchError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"subgraph {name}: {exc}") from None
                time.sleep(0.25)
    try:
        sdl = sdl_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"subgraph {name}: SDL file {sdl_file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"subgraph {name}: cannot read SDL file {sdl_file}: {exc}") from None
    return SubgraphSource(name, url, sdl)


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
