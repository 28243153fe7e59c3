"""The accounting of disclosures as CSV and as a printable page, per role."""

from __future__ import annotations

import csv
import io

from tests.audit.test_api import CLEAN, OTHER, history  # noqa: F401 (fixture)


def fetch(audit, who: str, path: str, **params):
    return audit.gateway.client.get(
        f"{audit.url}{path}",
        params=params,
        headers={"authorization": f"Bearer {audit.token(who)}"},
    )


def test_a_citizen_exports_their_own_accounting_as_csv_and_as_a_page(audit, history):  # noqa: F811
    response = fetch(audit, f"citizen:{CLEAN}", "/accord/accounting.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and set(rows[0]) == {
        "date",
        "recipient",
        "recipient_agency",
        "source",
        "description",
        "purpose",
        "legal_basis",
        "ledger_index",
    }
    api = audit.api(
        f"citizen:{CLEAN}",
        "{ accord { accountingOfDisclosures { subject rows { index recipient purpose "
        "legalBasis description } } } }",
    )["data"]["accord"]["accountingOfDisclosures"]
    assert api["subject"] == history["clean"]
    assert [int(r["ledger_index"]) for r in rows] == [r["index"] for r in api["rows"]]
    health = next(r for r in rows if r["source"] == "Health")
    assert health["purpose"] == "coordination of care (COC)"
    assert "diagnoses" in health["description"]
    assert "consent" in health["legal_basis"]
    # Nothing of the other person's appears.
    theirs = audit.api(
        "auditor",
        "query($s: String) { accord { accountingOfDisclosures(subject: $s) { rows { index } } } }",
        s=history["other"],
    )["data"]["accord"]["accountingOfDisclosures"]["rows"]
    assert theirs and not {r["index"] for r in theirs} & {int(r["ledger_index"]) for r in rows}

    page = fetch(audit, f"citizen:{CLEAN}", "/accord/accounting.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Accounting of disclosures</h1>" in page.text
    assert history["clean"] in page.text and "<script" not in page.text
    assert page.text.count("<tr>") == len(rows) + 1  # header row plus one per disclosure


def test_exports_refuse_the_wrong_caller(audit, history):  # noqa: F811
    other = fetch(audit, f"citizen:{CLEAN}", "/accord/accounting.csv", subject=history["other"])
    assert other.status_code == 403
    worker = fetch(audit, "worker:human_services/COC", "/accord/accounting.csv")
    assert worker.status_code == 403
    anonymous = audit.gateway.client.get(f"{audit.url}/accord/accounting.html")
    assert anonymous.status_code == 401
    auditor_without_subject = fetch(audit, "auditor", "/accord/accounting.csv")
    assert auditor_without_subject.status_code == 400
    assert "subject" in auditor_without_subject.text


def test_csv_cells_never_start_a_formula():
    from schema.api.accounting import Row, to_csv

    row = Row(7, "2026-01-01T00:00:00.000Z", "=HYPERLINK(1)", "x", "+1", "@a", "-b", "ok")
    lines = to_csv([row]).splitlines()
    assert lines[1].split(",") == [
        "2026-01-01T00:00:00.000Z",
        "'=HYPERLINK(1)",
        "x",
        "'+1",
        "'@a",
        "'-b",
        "ok",
        "7",
    ]


def test_the_interface_is_served_with_a_strict_content_security_policy(audit):
    redirect = audit.gateway.client.get(f"{audit.url}/ui")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/app.js", "/ui/style.css"):
        response = audit.gateway.client.get(f"{audit.url}{path}")
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["referrer-policy"] == "no-referrer"
    page = audit.gateway.client.get(f"{audit.url}/ui/").text
    assert '<html lang="en">' in page and "<script>" not in page  # no inline script
