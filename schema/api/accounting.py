"""The accounting of disclosures: every disclosure about one person, in the regulatory shape.

HIPAA (45 CFR 164.528) and FERPA (34 CFR 99.32) ask for the date, the recipient, a description
of the data and the purpose of each disclosure; Accord adds the legal basis it recorded and the
ledger index, which is the receipt anyone can prove against the log. The same rows are served
as GraphQL, as CSV and as a printable page.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.entries import Entry
from ledger.vocabulary import CATEGORIES, PURPOSES
from schema.api.types import iso

COLUMNS = (
    "date",
    "recipient",
    "recipient_agency",
    "source",
    "description",
    "purpose",
    "legal_basis",
    "ledger_index",
)


@dataclass(frozen=True)
class Row:
    index: int
    date: str
    recipient: str
    recipient_agency: str
    source: str
    description: str
    purpose: str
    legal_basis: str


def row(index: int, entry: Entry, names: dict[str, str]) -> Row:
    body = entry.body
    requester = body["requester"]["agency"]
    categories = "; ".join(CATEGORIES.get(c, c) for c in body["categories"])
    fields = ", ".join(body["fields"])
    basis = body["basis"]
    legal = [f"consent {c}" for c in basis["consents"]] + [
        f"statute rule {p}" for p in basis["policies"]
    ]
    return Row(
        index=index,
        date=iso(entry.ts),
        recipient=names.get(requester, requester),
        recipient_agency=requester,
        source=names.get(body["provider"], body["provider"]),
        description=f"{categories} ({fields})" if fields else categories,
        purpose=f"{PURPOSES.get(body['purpose'], body['purpose'])} ({body['purpose']})",
        legal_basis="; ".join(legal) or "none recorded",
    )


def to_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(
            [
                _cell(r.date),
                _cell(r.recipient),
                _cell(r.recipient_agency),
                _cell(r.source),
                _cell(r.description),
                _cell(r.purpose),
                _cell(r.legal_basis),
                r.index,
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A value a spreadsheet will show as text, never evaluate as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_html(subject: str, generated_at: str, rows: Sequence[Row]) -> str:
    """A self-contained page that prints cleanly (no scripts, no external resources)."""
    e = html.escape
    body = "".join(
        "<tr>"
        f"<td>{e(r.date[:10])}</td><td>{e(r.recipient)}</td><td>{e(r.source)}</td>"
        f"<td>{e(r.description)}</td><td>{e(r.purpose)}</td><td>{e(r.legal_basis)}</td>"
        f"<td>{r.index}</td>"
        "</tr>"
        for r in rows
    )
    if not rows:
        body = '<tr><td colspan="7">No disclosures are recorded.</td></tr>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Accounting of disclosures</title>
<style>
body {{ font: 12pt/1.4 system-ui, sans-serif; color: #111; margin: 2rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #555; padding: .3rem .5rem; text-align: left; vertical-align: top; }}
th {{ background: #e8e8e8; }}
@media print {{ body {{ margin: 0; }} }}
</style>
</head>
<body>
<h1>Accounting of disclosures</h1>
<p>Person (pseudonym): <code>{e(subject)}</code><br>Generated: {e(generated_at)}<br>
Every row is an entry of the Accord ledger; its index is a receipt that can be proven against
the log.</p>
<table>
<caption>Disclosures of this person's records, newest first</caption>
<thead><tr><th scope="col">Date</th><th scope="col">Recipient</th><th scope="col">Source</th>
<th scope="col">Data disclosed</th><th scope="col">Purpose</th><th scope="col">Legal basis</th>
<th scope="col">Ledger entry</th></tr></thead>
<tbody>{body}</tbody>
</table>
</body>
</html>
"""
