"""Drop what a subgraph returns without being asked.

A subgraph that answers with more than its selection (a bug, or an agency that ignores the
gateway's field list) must not get those values into the response: the projection would
release any of them the client happens to select, including a governed field the decision
withheld. The check runs on every answer before it is merged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.enforcement.metrics import Metrics
from app.federation.executor import Fetch
from app.federation.planner import SelSet

log = logging.getLogger("accord.enforcement")


@dataclass(frozen=True, slots=True)
class _Asked:
    """A selection as the check reads it: the response keys it allows, the fields that
    select further, and the inline fragments by type condition."""

    keys: frozenset[str]
    nested: tuple[tuple[str, _Asked], ...]
    frags: dict[str, _Asked]


def _asked(sel: SelSet) -> _Asked:
    keys = {"__typename"}
    for node in sel.fields.values():
        keys.add(node.key)
        if node.restore is not None:
            keys.add(node.restore)
    return _Asked(
        frozenset(keys),
        tuple(
            (node.restore or node.key, _asked(node.sel))
            for node in sel.fields.values()
            if node.sel is not None
        ),
        {type_name: _asked(sub) for type_name, sub in sel.frags.items()},
    )


class UnaskedFieldFilter:
    """``Executor.check_result``: prune answers to their selection, log what was dropped."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()

    def __call__(self, fetch: Fetch, sel: SelSet, value: Any) -> None:
        # The selections a fetch is checked against are its own (whole, or narrowed to the
        # permitted fields), so they live as long as the fetch and its memo.
        compiled = fetch.memo.get("unasked")
        if compiled is None:
            compiled = fetch.memo["unasked"] = {}
        asked = compiled.get(id(sel))
        if asked is None:
            asked = compiled[id(sel)] = (sel, _asked(sel))
        dropped: set[str] = set()
        _prune(value, asked[1], dropped)
        if dropped:
            self.metrics.unasked_fields_dropped += len(dropped)
            log.warning(
                "subgraph %s returned fields it was not asked for; dropped: %s",
                fetch.service,
                ", ".join(sorted(dropped)),
            )


def _prune(value: Any, asked: _Asked, dropped: set[str]) -> None:
    if type(value) is list:
        for element in value:
            _prune(element, asked, dropped)
        return
    if type(value) is not dict:
        return
    selections = [asked]
    if asked.frags:
        typename = value.get("__typename")
        if typename in asked.frags:
            selections.append(asked.frags[typename])
        elif typename is None:
            # Without a typename the fragment that applies is unknown: allow any of them.
            selections.extend(asked.frags.values())
    if len(selections) == 1:
        allowed: frozenset[str] | set[str] = asked.keys
    else:
        allowed = set().union(*(s.keys for s in selections))
    if not allowed.issuperset(value):
        for key in [k for k in value if k not in allowed]:
            del value[key]
            dropped.add(key)
    for current in selections:
        for key, child_asked in current.nested:
            child = value.get(key)
            if child is not None:
                _prune(child, child_asked, dropped)
