"""Counters of the enforcing gateway in the Prometheus text exposition format.

A handful of integers written on the request path; rendering them is a string join, so no
client library is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

_HELP = {
    "requests": "GraphQL requests answered",
    "requests_refused": "requests refused before execution (authentication, purpose)",
    "decisions": "consent decisions made (subject, agency, category)",
    "decision_failures": "entity fetches withheld because consent state could not be read",
    "entries_appended": "ledger entries appended (disclosures, refusals, break-glass)",
    "ledger_failures": "responses whose governed data was withheld because recording failed",
    "fields_withheld": "governed fields withheld by a decision",
    "unasked_fields_dropped": "fields a subgraph returned without being asked, dropped",
}


@dataclass
class Metrics:
    requests: int = 0
    requests_refused: int = 0
    decisions: int = 0
    decision_failures: int = 0
    entries_appended: int = 0
    ledger_failures: int = 0
    fields_withheld: int = 0
    unasked_fields_dropped: int = 0

    def render(self, gauges: dict[str, float] | None = None) -> str:
        lines: list[str] = []
        for item in fields(self):
            name = f"accord_{item.name}_total"
            lines.append(f"# HELP {name} {_HELP[item.name]}")
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name} {getattr(self, item.name)}")
        for name, value in (gauges or {}).items():
            lines.append(f"# TYPE accord_{name} gauge")
            lines.append(f"accord_{name} {value:g}")
        return "\n".join(lines) + "\n"
