"""The shared words of Accord: purposes of use and data categories.

Every consent, contract, subgraph annotation and ledger entry uses these codes, so that a
category an agency puts on a field means the same thing to the person who consented, the
statute contract that decides, and the auditor who reads the ledger.
"""

from __future__ import annotations

# HL7 v3 PurposeOfUse codes (value set 2.16.840.1.113883.1.11.20448) used by the member agencies.
PURPOSES: dict[str, str] = {
    "TREAT": "treatment",
    "ETREAT": "emergency treatment",
    "BTG": "break the glass",
    "COC": "coordination of care",
    "CAREMGT": "care management",
    "HPAYMT": "healthcare payment",
    "HOPERAT": "healthcare operations",
    "PUBHLTH": "public health",
    "HRESCH": "healthcare research",
    "PATRQT": "patient requested",
    "FAMRQT": "family requested",
    "PWATRNY": "power of attorney",
    "SUPNWK": "support network",
    "HLEGAL": "legal",
    "HDIRECT": "directory",
}

# Data categories: dotted names, each covered by its ancestors ("health" covers
# "health.substance_use"). A field of a subject with no category is "identity.basic".
CATEGORIES: dict[str, str] = {
    "identity": "who the person is",
    "identity.basic": "name, date of birth, identifiers",
    "identity.contact": "address, phone, e-mail",
    "health": "health records",
    "health.encounter": "visits and admissions",
    "health.diagnosis": "diagnoses and conditions",
    "health.medication": "prescriptions and medications",
    "health.behavioral": "behavioural and mental health",
    "health.substance_use": "substance-use disorder treatment (42 CFR Part 2)",
    "health.psychotherapy_notes": "psychotherapy notes",
    "education": "education records (FERPA)",
    "education.enrolment": "school enrolment",
    "education.attendance": "attendance",
    "education.grades": "grades and assessments",
    "education.special_education": "special-education plans (IEP)",
    "human_services": "human services records",
    "human_services.benefits": "benefits such as SNAP and TANF",
    "human_services.housing": "housing assistance",
    "human_services.child_welfare": "child-welfare cases",
    "human_services.case_notes": "case notes",
    "court": "court records",
    "court.case": "court cases",
    "court.juvenile": "juvenile court records",
    "court.order": "court orders",
}

DEFAULT_CATEGORY = "identity.basic"

# Member agencies of the demo network and the kind of body each is; contracts decide by kind.
AGENCY_KINDS: dict[str, str] = {
    "health": "health_provider",
    "education": "school",
    "human_services": "human_services",
    "courts": "court",
}


class VocabularyError(ValueError):
    """A purpose or category code that Accord does not know."""


def check_purpose(code: str) -> str:
    if code not in PURPOSES:
        raise VocabularyError(f"unknown purpose of use {code!r}; known: {', '.join(PURPOSES)}")
    return code


def check_category(name: str) -> str:
    if name not in CATEGORIES:
        raise VocabularyError(f"unknown data category {name!r}")
    return name


def covers(granted: str, requested: str) -> bool:
    """True if a grant for category ``granted`` includes category ``requested``."""
    return requested == granted or requested.startswith(granted + ".")


def ancestors(name: str) -> list[str]:
    """The category and every ancestor, most specific first: a.b.c -> [a.b.c, a.b, a]."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
