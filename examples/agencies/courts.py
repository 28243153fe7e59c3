"""State Courts (agency ``courts``): court cases, juvenile records (with the sealed flag
that statute contracts look for) and court orders.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from examples.agencies.base import check_choice, known, population, standard_extensions
from examples.people import COURTS
from schema.subgraph import data_category, federation_schema, subject


@strawberry.type(directives=[data_category("court.case")])
class CourtCase:
    case_number: str
    court: str
    kind: str
    status: str
    filed_on: datetime.date


@strawberry.type(directives=[data_category("court.juvenile")])
class JuvenileRecord:
    case_number: str
    offence: str
    disposition: str
    decided_on: datetime.date
    sealed: bool = strawberry.field(description="Sealed by the court: disclosed only by order.")


@strawberry.type(directives=[data_category("court.order")])
class CourtOrder:
    order_number: str
    kind: str
    issued_on: datetime.date
    expires_on: datetime.date | None


@strawberry.federation.type(keys=["id"], directives=[subject()])
class Person:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID, **_: Any) -> Person | None:
        return cls(id=id) if known(info, id) else None

    @strawberry.field(directives=[data_category("court.case")])
    def court_cases(self, info: Info) -> list[CourtCase] | None:
        return list(population(info).courts(self.id).cases) or None

    @strawberry.field(directives=[data_category("court.juvenile")])
    def juvenile_records(self, info: Info) -> list[JuvenileRecord] | None:
        return list(population(info).courts(self.id).juvenile_records) or None

    @strawberry.field(directives=[data_category("court.order")])
    def court_orders(self, info: Info) -> list[CourtOrder] | None:
        return list(population(info).courts(self.id).orders) or None


@strawberry.type
class Query:
    @strawberry.field(description="The courts of the state.")
    def courts(self) -> list[str]:
        return list(COURTS)

    @strawberry.field(description="Adult parties with cases before a court (keys only).")
    def docket(self, info: Info, court: str, first: int = 20) -> list[Person]:
        check_choice("court", court, COURTS)
        people = population(info)
        first = max(0, min(first, 100))
        if not first:
            return []
        ids = people.find(
            lambda pid: any(c.court == court for c in people.courts(pid).cases), first
        )
        return [Person(id=strawberry.ID(pid)) for pid in ids]


def build_schema(extensions: list[Any] | None = None) -> strawberry.federation.Schema:
    return federation_schema(
        Query, types=[Person], extensions=[*standard_extensions(), *(extensions or [])]
    )


schema = build_schema()
