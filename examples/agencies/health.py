"""Department of Health (agency ``health``): encounters, diagnoses, medications, behavioural
health, substance-use treatment (42 CFR Part 2) and psychotherapy notes.

A governed field is ``null`` when the person has no such record, never an empty list, so a
withheld field and an absent record look the same to the requester: a refusal about
substance-use treatment then reveals nothing about whether treatment exists.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from examples.agencies.base import check_choice, known, population, standard_extensions
from schema.subgraph import data_category, federation_schema, subject

FACILITY_NAMES = (
    "Riverton General Hospital",
    "Lakeshire Community Clinic",
    "Millbrook Family Health Center",
    "Fairhaven Urgent Care",
)


@strawberry.type(directives=[data_category("health.encounter")])
class Encounter:
    date: datetime.date
    facility: str
    kind: str
    reason: str


@strawberry.type(directives=[data_category("health.diagnosis")])
class Diagnosis:
    code: str = strawberry.field(description="ICD-10-CM code")
    description: str
    diagnosed_on: datetime.date


@strawberry.type(directives=[data_category("health.medication")])
class Medication:
    name: str
    dose: str
    frequency: str
    prescribed_on: datetime.date


@strawberry.type(directives=[data_category("health.behavioral")])
class BehavioralHealthCondition:
    code: str
    description: str
    diagnosed_on: datetime.date
    in_care: bool


@strawberry.type(directives=[data_category("health.substance_use")])
class SubstanceUseTreatment:
    program: str
    code: str
    description: str
    admitted_on: datetime.date
    discharged_on: datetime.date | None
    medication: str | None


@strawberry.type(directives=[data_category("health.psychotherapy_notes")])
class PsychotherapyNote:
    date: datetime.date
    clinician: str
    text: str


@strawberry.federation.type(keys=["id"], directives=[subject()])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Person | None:
        return cls(id=id) if known(info, id) else None

    @strawberry.field(directives=[data_category("health.encounter")])
    def encounters(self, info: Info) -> list[Encounter] | None:
        return list(population(info).health(self.id).encounters) or None

    @strawberry.field(directives=[data_category("health.diagnosis")])
    def diagnoses(self, info: Info) -> list[Diagnosis] | None:
        return list(population(info).health(self.id).diagnoses) or None

    @strawberry.field(directives=[data_category("health.medication")])
    def medications(self, info: Info) -> list[Medication] | None:
        return list(population(info).health(self.id).medications) or None

    @strawberry.field(directives=[data_category("health.behavioral")])
    def behavioral_health(self, info: Info) -> list[BehavioralHealthCondition] | None:
        return list(population(info).health(self.id).behavioral_health) or None

    @strawberry.field(directives=[data_category("health.substance_use")])
    def substance_use_treatment(self, info: Info) -> list[SubstanceUseTreatment] | None:
        return list(population(info).health(self.id).substance_use_treatment) or None

    @strawberry.field(directives=[data_category("health.psychotherapy_notes")])
    def psychotherapy_notes(self, info: Info) -> list[PsychotherapyNote] | None:
        return list(population(info).health(self.id).psychotherapy_notes) or None


@strawberry.type
class Query:
    @strawberry.field(description="The health facilities of the department.")
    def facilities(self) -> list[str]:
        return list(FACILITY_NAMES)

    @strawberry.field(description="People seen at a facility (keys only; fields via the gateway).")
    def patients(self, info: Info, facility: str, first: int = 20) -> list[Person]:
        check_choice("facility", facility, FACILITY_NAMES)
        people = population(info)
        first = max(0, min(first, 100))
        ids = (
            people.find(
                lambda pid: any(e.facility == facility for e in people.health(pid).encounters),
                first,
            )
            if first
            else []
        )
        return [Person(id=strawberry.ID(pid)) for pid in ids]


def build_schema(extensions: list[Any] | None = None) -> strawberry.federation.Schema:
    return federation_schema(
        Query, types=[Person], extensions=[*standard_extensions(), *(extensions or [])]
    )


schema = build_schema()
