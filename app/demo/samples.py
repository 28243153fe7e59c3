"""What the demo prints: sample queries chosen to show each outcome, and the tokens to send them.

The people are fixed (seed 2026), and so are their consents (:mod:`app.demo.network`), so each
query's answer is known in advance: the README shows the first one and the demo's tests send
exactly this text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.demo_idp import DEMO_PURPOSES, DemoIdentityProvider
from app.identity import write_file_atomic

# The person the citizen token is for, and the subject of the first query.
SAMPLE_PERSON = "P000004"


@dataclass(frozen=True, slots=True)
class SampleQuery:
    """A query, the token to send it with, and what its answer demonstrates."""

    name: str
    token: str  # a key of :func:`tokens`
    shows: str
    query: str
    # The federated API, or Accord's own API (audit, consents), which needs no purpose of use.
    path: str = "/graphql"


FIRST_QUERY = SampleQuery(
    name="first",
    token="case_worker.health.TREAT",
    shows=(
        "a health case worker treating P000004: name and diagnoses permitted (the person's "
        "consent, HIPAA treatment), benefits withheld with CONSENT_REQUIRED, a ledger receipt"
    ),
    query="""\
query FirstLook {
  person(id: "P000004") {
    givenName
    familyName
    diagnoses { code description }
    benefits { program status }
  }
}
""",
)

SAMPLE_QUERIES: tuple[SampleQuery, ...] = (
    FIRST_QUERY,
    SampleQuery(
        name="school-and-court",
        token="case_worker.human_services.COC",
        shows=(
            "a human services case worker coordinating care for a child (P000087): school "
            "enrolment permitted by a parent's FERPA consent, the sealed juvenile record "
            "withheld with POLICY_DENIED (juvenile.sealed)"
        ),
        query="""\
query SchoolAndCourt {
  person(id: "P000087") {
    givenName
    enrolment { school gradeLevel }
    juvenileRecords { sealed decidedOn }
  }
}
""",
    ),
    SampleQuery(
        name="my-history",
        token=f"citizen.{SAMPLE_PERSON}",
        shows=(
            "P000004 signed in at the citizen portal: who saw which of their data, why, and "
            "their consents (send the first query before, so there is history to see)"
        ),
        query="""\
query MyHistory {
  accord {
    accountingOfDisclosures {
      rows { date recipient source description purpose legalBasis }
    }
    consents { id status grantees { name } categories purposes end }
  }
}
""",
        path="/accord/graphql",
    ),
    SampleQuery(
        name="audit",
        token="auditor",
        shows=(
            "an auditor: the latest refusals across the network, and the signed ledger "
            "checkpoint every receipt can be proved against"
        ),
        query="""\
query Audit {
  accord {
    denials(first: 5) {
      totalCount
      items { index time requester { agency { name } } provider { name } fields code rule }
    }
    ledger { checkpoint { size rootHash final } }
  }
}
""",
        path="/accord/graphql",
    ),
)


def tokens(data_dir: Path, citizen: str = SAMPLE_PERSON) -> dict[str, str]:
    """Fresh demo tokens: a case worker per agency and purpose, an auditor and a citizen."""
    return DemoIdentityProvider(data_dir).sample_tokens(citizen=citizen)


def printed_tokens(all_tokens: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, label, token) for the tokens the demo prints, in a stable order."""
    rows = []
    for agency, purposes in DEMO_PURPOSES.items():
        for purpose in purposes:
            key = f"case_worker.{agency}.{purpose}"
            if key in all_tokens:
                rows.append((key, f"case worker, {agency}, {purpose}", all_tokens[key]))
    if "auditor" in all_tokens:
        rows.append(("auditor", "auditor (oversight)", all_tokens["auditor"]))
    for key, token in all_tokens.items():
        if key.startswith("citizen."):
            rows.append((key, f"citizen {key.split('.', 1)[1]}", token))
    return rows


def write_samples(directory: Path, all_tokens: dict[str, str]) -> None:
    """Keep the tokens and queries next to the demo's other files, for copy and paste."""
    directory.mkdir(parents=True, exist_ok=True)
    # Bearer tokens are credentials: readable by the owner only.
    data = (json.dumps(all_tokens, indent=2) + "\n").encode()
    write_file_atomic(directory / "tokens.json", data, mode=0o600)
    queries = directory / "queries"
    queries.mkdir(exist_ok=True)
    for sample in SAMPLE_QUERIES:
        (queries / f"{sample.name}.graphql").write_text(
            f"# POST {sample.path} with token {sample.token}\n# {sample.shows}\n{sample.query}"
        )
