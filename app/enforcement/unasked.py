"""Drop what a subgraph returns without being asked.

A subgraph that answers with more than its selection (a bug, or an agency that ignores the
gateway's field list) must not get those values into the response: the projection would
release any of them the client happens to select, including a governed field the decision
withheld. The check runs on every answer before it is merged.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from app.enforcement.metrics import Metrics
from app.federation.executor import Fetch
from app.federation.planner import SelSet

log = logging.getLogger("accord.enforcement")


class UnaskedFieldFilter:
    """``Executor.check_result``: prune answers to their selection, log what was dropped."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()
        self._keys: weakref.WeakKeyDictionary[SelSet, frozenset[str]] = weakref.WeakKeyDictionary()
        self._nested: weakref.WeakKeyDictionary[SelSet, tuple[tuple[str, SelSet], ...]] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, fetch: Fetch, sel: SelSet, value: Any) -> None:
        dropped: set[str] = set()
        self._prune(value, sel, dropped)
        if dropped:
            self.metrics.unasked_fields_dropped += len(dropped)
            log.warning(
                "subgraph %s returned fields it was not asked for; dropped: %s",
                fetch.service,
                ", ".join(sorted(dropped)),
            )

    def keys(self, sel: SelSet) -> frozenset[str]:
        found = self._keys.get(sel)
        if found is None:
            names = {"__typename"}
            for node in sel.fields.values():
                names.add(node.key)
                if node.restore is not None:
                    names.add(node.restore)
            found = self._keys[sel] = frozenset(names)
        return found

    def nested(self, sel: SelSet) -> tuple[tuple[str, SelSet], ...]:
        """(response key, selection) of the fields of ``sel`` that select further."""
        found = self._nested.get(sel)
        if found is None:
            found = self._nested[sel] = tuple(
                (node.restore or node.key, node.sel)
                for node in sel.fields.values()
                if node.sel is not None
            )
        return found

    def _prune(self, value: Any, sel: SelSet, dropped: set[str]) -> None:
        if isinstance(value, list):
            for element in value:
                self._prune(element, sel, dropped)
            return
        if not isinstance(value, dict):
            return
        selections = [sel]
        typename = value.get("__typename")
        if sel.frags:
            if typename in sel.frags:
                selections.append(sel.frags[typename])
            else:
                # Without a typename the fragment that applies is unknown: allow any of them.
                if typename is None:
                    selections.extend(sel.frags.values())
        allowed: set[str] | frozenset[str]
        if len(selections) == 1:
            allowed = self.keys(sel)
        else:
            allowed = set().union(*(self.keys(s) for s in selections))
        if not allowed.issuperset(value):
            for key in [k for k in value if k not in allowed]:
                del value[key]
                dropped.add(key)
        for current in selections:
            for key, child_sel in self.nested(current):
                child = value.get(key)
                if child is not None:
                    self._prune(child, child_sel, dropped)
