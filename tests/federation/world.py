"""A three-agency test world: people (registry), health and cases, with a hand-written supergraph.

It exercises simple and composite keys, ``@requires``, ``@provides``/``@external``, a
shareable root field, an interface, ``@inaccessible``, mutations and subgraph errors.
"""

from __future__ import annotations

from graphql import GraphQLError

from tests.federation.subgraphs import Subgraph, supergraph_sdl

PEOPLE = {
    "p1": {"id": "p1", "name": "Ada", "birthYear": 1980, "secret": "s1"},
    "p2": {"id": "p2", "name": "Grace", "birthYear": 2001, "secret": "s2"},
    "p3": {"id": "p3", "name": "Linus", "birthYear": None, "secret": "s3"},
}
CONDITIONS = {
    "p1": [{"code": "E11", "since": 2010}, {"code": "I10", "since": 2015}],
    "p2": [],
}


def new_cases() -> dict[tuple[str, int], dict]:
    return {
        ("HS", 1): {"agency": "HS", "number": 1, "status": "open", "personId": "p1"},
        ("HS", 2): {"agency": "HS", "number": 2, "status": "closed", "personId": "p2"},
        ("ED", 7): {"agency": "ED", "number": 7, "status": "open", "personId": "p1"},
    }


def people_subgraph() -> Subgraph:
    def person(_root, _info, id):
        found = PEOPLE.get(id)
        return {"__typename": "Person", **found} if found else None

    def node(_root, _info, id):
        if id.startswith("o"):
            return {"__typename": "Office", "id": id, "city": "Wellington"}
        return person(_root, _info, id)

    return Subgraph(
        "people",
        """
        type Query { person(id: ID!): Person people: [Person!]! node(id: ID!): Node
                     agencyName: String }
        interface Node { id: ID! }
        type Person implements Node { id: ID! name: String! birthYear: Int secret: String }
        type Office implements Node { id: ID! city: String }
        """,
        resolvers={
            "Query": {
                "person": person,
                "people": lambda _r, _i: [{"__typename": "Person", **p} for p in PEOPLE.values()],
                "node": node,
                "agencyName": lambda _r, _i: "Registry",
            }
        },
        entities={"Person": lambda rep: PEOPLE.get(rep["id"])},
    )


def health_subgraph() -> Subgraph:
    def load_person(rep):
        if rep["id"] == "p3":
            return {
                "id": "p3",
                "conditions": lambda _info: GraphQLError("health record sealed"),
                "riskScore": None,
            }
        birth = rep.get("birthYear")
        return {
            "id": rep["id"],
            "conditions": CONDITIONS.get(rep["id"], []),
            # Needs birthYear from the registry: it only arrives through @requires.
            "riskScore": (2026 - birth) if isinstance(birth, int) else -1,
        }

    return Subgraph(
        "health",
        """
        type Query { topPatients: [Person!]! }
        type Person { id: ID! birthYear: Int conditions: [Condition!]! riskScore: Int }
        type Condition { code: String! since: Int }
        type Case { agency: String! number: Int! urgent: Boolean }
        """,
        resolvers={
            "Query": {
                "topPatients": lambda _r, _i: [
                    {"__typename": "Person", "id": "p2"},
                    {"__typename": "Person", "id": "p1"},
                    {"__typename": "Person", "id": "p2"},
                ]
            }
        },
        entities={
            "Person": load_person,
            "Case": lambda rep: {
                "agency": rep["agency"],
                "number": rep["number"],
                "urgent": rep["number"] == 1,
            },
        },
    )


def cases_subgraph(cases: dict) -> Subgraph:
    def as_case(case):
        if case is None:
            return None
        return {
            "__typename": "Case",
            **{k: v for k, v in case.items() if k != "personId"},
            # @provides(fields: "name"): this subgraph can answer the person's name itself.
            "person": {"__typename": "Person", "id": case["personId"], "name": "provided"},
        }

    def open_case(_root, _info, agency, number, personId):
        if (agency, number) in cases:
            raise GraphQLError(f"case {agency}-{number} already exists")
        cases[(agency, number)] = {
            "agency": agency,
            "number": number,
            "status": "open",
            "personId": personId,
        }
        return as_case(cases[(agency, number)])

    def close_case(_root, _info, agency, number):
        case = cases.get((agency, number))
        if case is not None:
            case["status"] = "closed"
        return as_case(case)

    def person_cases(rep):
        return {
            "id": rep["id"],
            "cases": [as_case(c) for c in cases.values() if c["personId"] == rep["id"]],
        }

    return Subgraph(
        "cases",
        """
        type Query { case(agency: String!, number: Int!): Case openCases: [Case!]!
                     agencyName: String }
        type Mutation { openCase(agency: String!, number: Int!, personId: ID!): Case!
                        closeCase(agency: String!, number: Int!): Case }
        type Case { agency: String! number: Int! status: String! person: Person }
        type Person { id: ID! name: String! cases: [Case!]! }
        """,
        resolvers={
            "Query": {
                "case": lambda _r, _i, agency, number: as_case(cases.get((agency, number))),
                "openCases": lambda _r, _i: [
                    as_case(c) for c in cases.values() if c["status"] == "open"
                ],
                "agencyName": lambda _r, _i: "Cases",
            },
            "Mutation": {"openCase": open_case, "closeCase": close_case},
        },
        entities={"Person": person_cases},
    )


SUPERGRAPH_BODY = """
type Query
  @join__type(graph: PEOPLE) @join__type(graph: HEALTH) @join__type(graph: CASES)
{
  person(id: ID!): Person @join__field(graph: PEOPLE)
  people: [Person!]! @join__field(graph: PEOPLE)
  node(id: ID!): Node @join__field(graph: PEOPLE)
  topPatients: [Person!]! @join__field(graph: HEALTH)
  case(agency: String!, number: Int!): Case @join__field(graph: CASES)
  openCases: [Case!]! @join__field(graph: CASES)
  agencyName: String @join__field(graph: PEOPLE) @join__field(graph: CASES)
}
type Mutation @join__type(graph: CASES) {
  openCase(agency: String!, number: Int!, personId: ID!): Case! @join__field(graph: CASES)
  closeCase(agency: String!, number: Int!): Case @join__field(graph: CASES)
}
interface Node @join__type(graph: PEOPLE) { id: ID! }
type Person implements Node
  @join__implements(graph: PEOPLE, interface: "Node")
  @join__type(graph: PEOPLE, key: "id")
  @join__type(graph: HEALTH, key: "id")
  @join__type(graph: CASES, key: "id")
{
  id: ID!
  name: String! @join__field(graph: PEOPLE) @join__field(graph: CASES, external: true)
  birthYear: Int @join__field(graph: PEOPLE) @join__field(graph: HEALTH, external: true)
  secret: String @join__field(graph: PEOPLE) @inaccessible
  conditions: [Condition!]! @join__field(graph: HEALTH)
  riskScore: Int @join__field(graph: HEALTH, requires: "birthYear")
  cases: [Case!]! @join__field(graph: CASES)
}
type Office implements Node
  @join__implements(graph: PEOPLE, interface: "Node")
  @join__type(graph: PEOPLE, key: "id")
{
  id: ID!
  city: String
}
type Condition @join__type(graph: HEALTH) { code: String! since: Int }
type Case
  @join__type(graph: CASES, key: "agency number")
  @join__type(graph: HEALTH, key: "agency number")
{
  agency: String!
  number: Int!
  status: String! @join__field(graph: CASES)
  urgent: Boolean @join__field(graph: HEALTH)
  person: Person @join__field(graph: CASES, provides: "name")
}
"""


def world_supergraph(urls: dict[str, str]) -> str:
    return supergraph_sdl(urls, SUPERGRAPH_BODY)
