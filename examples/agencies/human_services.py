"""Department of Human Services (agency ``human_services``): the network's identity
agency (names, date of birth, contact details) and its benefits (SNAP, TANF and others),
housing assistance, child-welfare cases (including foster care) and case notes.

Finding people starts here: ``person(id:)`` and the paged ``people`` list return subjects
whose other fields other agencies contribute through the gateway.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from examples.agencies.base import known, population, standard_extensions
from examples.people import ID_DIGITS, ID_PREFIX
from schema.subgraph import data_category, federation_schema, subject

MAX_PAGE = 500


@strawberry.type(directives=[data_category("identity.contact")])
class Address:
    line1: str
    city: str
    state: str
    postal_code: str


@strawberry.type(directives=[data_category("human_services.benefits")])
class Benefit:
    program: str = strawberry.field(description="SNAP, TANF, WIC, LIHEAP or MEDICAID")
    status: str
    monthly_amount_cents: int
    started_on: datetime.date


@strawberry.type(directives=[data_category("human_services.housing")])
class HousingAssistance:
    program: str
    status: str
    started_on: datetime.date


@strawberry.type(directives=[data_category("human_services.child_welfare")])
class ChildWelfareCase:
    case_id: str
    status: str
    opened_on: datetime.date
    in_foster_care: bool
    placement: str | None
    case_worker: str


@strawberry.type(directives=[data_category("human_services.case_notes")])
class CaseNote:
    date: datetime.date
    author: str
    text: str


@strawberry.federation.type(keys=["id"], directives=[subject()])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Person | None:
        return cls(id=id) if known(info, id) else None

    @strawberry.field
    def given_name(self, info: Info) -> str:
        return population(info).person(self.id).given_name

    @strawberry.field
    def family_name(self, info: Info) -> str:
        return population(info).person(self.id).family_name

    @strawberry.federation.field(shareable=True)
    def date_of_birth(self, info: Info) -> datetime.date:
        return population(info).person(self.id).date_of_birth

    @strawberry.field(directives=[data_category("identity.contact")])
    def address(self, info: Info) -> Address:
        return population(info).person(self.id).address  # type: ignore[return-value]

    @strawberry.field(directives=[data_category("identity.contact")])
    def phone(self, info: Info) -> str:
        return population(info).person(self.id).phone

    @strawberry.field(directives=[data_category("human_services.benefits")])
    def benefits(self, info: Info) -> list[Benefit] | None:
        return list(population(info).human_services(self.id).benefits) or None

    @strawberry.field(directives=[data_category("human_services.housing")])
    def housing(self, info: Info) -> HousingAssistance | None:
        return population(info).human_services(self.id).housing

    @strawberry.field(directives=[data_category("human_services.child_welfare")])
    def child_welfare_case(self, info: Info) -> ChildWelfareCase | None:
        return population(info).human_services(self.id).child_welfare_case

    @strawberry.field(directives=[data_category("human_services.case_notes")])
    def case_notes(self, info: Info) -> list[CaseNote] | None:
        return list(population(info).human_services(self.id).case_notes) or None


@strawberry.type
class PersonPage:
    nodes: list[Person]
    end_cursor: strawberry.ID | None
    has_next_page: bool
    total_count: int


@strawberry.type
class Query:
    @strawberry.field(description="The person with this id, or null if there is none.")
    def person(self, info: Info, id: strawberry.ID) -> Person | None:
        return Person(id=id) if known(info, id) else None

    @strawberry.field(description="People in id order; pass endCursor as after for more.")
    def people(self, info: Info, first: int = 20, after: strawberry.ID | None = None) -> PersonPage:
        people = population(info)
        start = 0
        if after is not None:
            index = people.index_of(after)
            if index is None:
                raise ValueError(
                    f"after must be a person id like {ID_PREFIX}{'0' * (ID_DIGITS - 1)}1"
                )
            start = index + 1
        first = max(0, min(first, MAX_PAGE))
        ids = people.ids(start, start + first)
        return PersonPage(
            nodes=[Person(id=strawberry.ID(pid)) for pid in ids],
            end_cursor=strawberry.ID(ids[-1]) if ids else None,
            has_next_page=start + len(ids) < len(people),
            total_count=len(people),
        )


def build_schema(extensions: list[Any] | None = None) -> strawberry.federation.Schema:
    return federation_schema(
        Query, types=[Person], extensions=[*standard_extensions(), *(extensions or [])]
    )


schema = build_schema()
