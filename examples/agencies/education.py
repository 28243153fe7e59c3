"""Department of Education (agency ``education``): enrolment, attendance, grades and
special-education plans, all education records under FERPA.

The school district also holds each student's date of birth; it shares the field with
human services (``@shareable``), so a query for a student's age needs no second agency.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from examples.agencies.base import check_choice, known, population, standard_extensions
from examples.people import SCHOOLS
from schema.subgraph import data_category, federation_schema, subject


@strawberry.type(directives=[data_category("education.enrolment")])
class Enrolment:
    school: str
    grade_level: int
    enrolled_on: datetime.date
    status: str


@strawberry.type(directives=[data_category("education.attendance")])
class AttendanceRecord:
    school_year: str
    days_enrolled: int
    days_absent: int
    rate: float


@strawberry.type(directives=[data_category("education.grades")])
class Grade:
    subject: str
    term: str
    grade: str


@strawberry.type(directives=[data_category("education.special_education")])
class SpecialEducationPlan:
    disability_category: str
    services: list[str]
    started_on: datetime.date
    next_review_on: datetime.date


@strawberry.type
class School:
    name: str
    lowest_age: int
    highest_age: int


@strawberry.federation.type(keys=["id"], directives=[subject()])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Person | None:
        return cls(id=id) if known(info, id) else None

    @strawberry.federation.field(shareable=True)
    def date_of_birth(self, info: Info) -> datetime.date:
        return population(info).person(self.id).date_of_birth

    @strawberry.field(directives=[data_category("education.enrolment")])
    def enrolment(self, info: Info) -> Enrolment | None:
        return population(info).education(self.id).enrolment

    @strawberry.field(directives=[data_category("education.attendance")])
    def attendance(self, info: Info) -> list[AttendanceRecord] | None:
        return list(population(info).education(self.id).attendance) or None

    @strawberry.field(directives=[data_category("education.grades")])
    def grades(self, info: Info) -> list[Grade] | None:
        return list(population(info).education(self.id).grades) or None

    @strawberry.field(directives=[data_category("education.special_education")])
    def special_education_plan(self, info: Info) -> SpecialEducationPlan | None:
        plan = population(info).education(self.id).special_education_plan
        if plan is None:
            return None
        return SpecialEducationPlan(
            disability_category=plan.disability_category,
            services=list(plan.services),
            started_on=plan.started_on,
            next_review_on=plan.next_review_on,
        )


@strawberry.type
class Query:
    @strawberry.field(description="The district's schools.")
    def schools(self) -> list[School]:
        return [School(name=n, lowest_age=lo, highest_age=hi) for n, lo, hi in SCHOOLS]

    @strawberry.field(description="Students enrolled at a school, in id order (keys only).")
    def students(
        self, info: Info, school: str, first: int = 50, after: strawberry.ID | None = None
    ) -> list[Person]:
        check_choice("school", school, tuple(name for name, _, _ in SCHOOLS))
        ids = population(info).students(school)
        if after is not None:
            ids = tuple(pid for pid in ids if pid > after)
        return [Person(id=strawberry.ID(pid)) for pid in ids[: max(0, min(first, 500))]]


def build_schema(extensions: list[Any] | None = None) -> strawberry.federation.Schema:
    return federation_schema(
        Query, types=[Person], extensions=[*standard_extensions(), *(extensions or [])]
    )


schema = build_schema()
