"""Subgraph sets that must not compose, each with the error code composition must report."""

FED2 = (
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
    'import: ["@key", "@shareable", "@external", "@requires", "@provides", "@override", '
    '"@interfaceObject"])\n'
)

ERROR_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "non-shareable field in two subgraphs": (
        "INVALID_FIELD_SHARING",
        {
            "a": FED2 + "type Query { office: Office }\n"
            'type Office @key(fields: "id") { id: ID! name: String }',
            "b": FED2 + 'type Office @key(fields: "id") { id: ID! name: String }',
        },
    ),
    "incompatible field types": (
        "FIELD_TYPE_MISMATCH",
        {
            "a": FED2 + "type Query { count: Int @shareable }",
            "b": FED2 + "type Query { count: String @shareable }",
        },
    ),
    "key names a missing field": (
        "KEY_INVALID_FIELDS",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "nationalId") { id: ID! }',
        },
    ),
    "key selects a field with arguments": (
        "KEY_FIELDS_HAS_ARGS",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id(format: String): ID! }',
        },
    ),
    "external field nobody defines": (
        "EXTERNAL_MISSING_ON_BASE",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! age: Int @external '
            'band: String @requires(fields: "age") }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! name: String }',
        },
    ),
    "external field used by no directive": (
        "EXTERNAL_UNUSED",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! name: String @external }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! name: String }',
        },
    ),
    "requires names a missing field": (
        "REQUIRES_INVALID_FIELDS",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! band: String @requires(fields: "age") }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! age: Int }',
        },
    ),
    "requires a field the subgraph already resolves": (
        "REQUIRES_FIELDS_MISSING_EXTERNAL",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! age: Int band: String '
            '@requires(fields: "age") }',
        },
    ),
    "provides names a missing field": (
        "PROVIDES_INVALID_FIELDS",
        {
            "a": FED2 + 'type Query { p: Person @provides(fields: "nickname") }\n'
            'type Person @key(fields: "id") { id: ID! }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! name: String }',
        },
    ),
    "provides on a scalar field": (
        "PROVIDES_ON_NON_OBJECT_FIELD",
        {
            "a": FED2 + 'type Query { p: Person n: Int @provides(fields: "x") }\n'
            'type Person @key(fields: "id") { id: ID! }',
        },
    ),
    "same type, different kinds": (
        "TYPE_KIND_MISMATCH",
        {
            "a": FED2 + "type Query { s: Status }\nenum Status { OPEN CLOSED }",
            "b": FED2 + "type Status { open: Boolean }",
        },
    ),
    "override from itself": (
        "OVERRIDE_FROM_SELF_ERROR",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! name: String @override(from: "a") }',
        },
    ),
    "override of an overriding field": (
        "OVERRIDE_SOURCE_HAS_OVERRIDE",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! name: String @override(from: "b") }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! name: String '
            '@override(from: "a") }',
        },
    ),
    "required argument missing in a subgraph": (
        "REQUIRED_ARGUMENT_MISSING_IN_SOME_SUBGRAPH",
        {
            "a": FED2 + "type Query { people(status: String!): [ID] @shareable }",
            "b": FED2 + "type Query { people: [ID] @shareable }",
        },
    ),
    "required input field missing in a subgraph": (
        "REQUIRED_INPUT_FIELD_MISSING_IN_SOME_SUBGRAPH",
        {
            "a": FED2 + "type Query { find(f: Filter): ID }\ninput Filter { name: String! }",
            "b": FED2 + "type Query { other(f: Filter): ID }\ninput Filter { age: Int }",
        },
    ),
    "enum used both ways with different values": (
        "ENUM_VALUE_MISMATCH",
        {
            "a": FED2 + "type Query { s(in: Status): Status }\nenum Status { OPEN CLOSED }",
            "b": FED2 + "type Query { t: Status }\nenum Status { OPEN }",
        },
    ),
    "reference to a type the subgraph does not define": (
        "INVALID_GRAPHQL",
        {
            "a": FED2 + "type Query { p: Person }",
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! }',
        },
    ),
    "external field declared with another type": (
        "EXTERNAL_TYPE_MISMATCH",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! age: Int! @external '
            'band: String @requires(fields: "age") }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! age: Int }',
        },
    ),
    "external argument stricter than its owner's": (
        "EXTERNAL_ARGUMENT_TYPE_MISMATCH",
        {
            "a": FED2 + "type Query { p: Person }\n"
            'type Person @key(fields: "id") { id: ID! age(at: String!): Int @external '
            'band: String @requires(fields: "age(at: \\"now\\")") }',
            "b": FED2 + 'type Person @key(fields: "id") { id: ID! age(at: String): Int }',
        },
    ),
    "interface object without a key": (
        "INTERFACE_OBJECT_USAGE_ERROR",
        {
            "a": FED2 + "type Query { n: Node }\n"
            'interface Node @key(fields: "id") { id: ID! }\n'
            'type Doc implements Node @key(fields: "id") { id: ID! }',
            "b": FED2 + "type Node @interfaceObject { id: ID! extra: Int }",
        },
    ),
    "interface key missing on an implementation": (
        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
        {
            "a": FED2 + "type Query { n: Node }\n"
            'interface Node @key(fields: "id") { id: ID! }\n'
            "type Doc implements Node { id: ID! }",
        },
    ),
    "implementation no longer matches its interface once merged": (
        "INVALID_GRAPHQL",
        {
            "a": FED2 + "type Query { n: Node }\ninterface Node { id: ID! }\n"
            'type Doc implements Node @key(fields: "id") { id: ID! }',
            "b": FED2 + 'type Doc @key(fields: "id") { id: ID title: String }',
        },
    ),
    "field shared with an interface object": (
        "INVALID_FIELD_SHARING",
        {
            "a": FED2 + "type Query { n: Node }\n"
            'interface Node @key(fields: "id") { id: ID! score: Int }\n'
            'type Doc implements Node @key(fields: "id") { id: ID! score: Int }',
            "b": FED2 + 'type Node @key(fields: "id") @interfaceObject { id: ID! score: Int }',
        },
    ),
    "visible argument defaults to a hidden enum value": (
        "DEFAULT_VALUE_USES_INACCESSIBLE",
        {
            "a": FED2.replace('"@key"', '"@key", "@inaccessible"')
            + "type Query { people(kind: Kind = SEALED): [ID] }\n"
            "enum Kind { OPEN SEALED @inaccessible }",
        },
    ),
    "entity fields behind a key nobody can use": (
        "SATISFIABILITY_ERROR",
        {
            "a": FED2 + "type Query { people: [Person] }\n"
            'type Person @key(fields: "id") { id: ID! name: String }',
            "b": FED2 + 'type Person @key(fields: "id", resolvable: false) { id: ID! '
            "cases: [String] }",
        },
    ),
    "value type fields spread over subgraphs": (
        "SATISFIABILITY_ERROR",
        {
            "a": FED2 + "type Query { address: Address }\n"
            "type Address @shareable { street: String }",
            "b": FED2 + "type Query { home: Address }\n"
            "type Address @shareable { street: String postcode: String }",
        },
    ),
    "visible type with only hidden fields": (
        "ONLY_INACCESSIBLE_CHILDREN",
        {
            "a": FED2.replace('"@key"', '"@key", "@inaccessible"')
            + "type Query { p: Person }\ntype Person { secret: String @inaccessible }",
        },
    ),
    "entity interface in a subgraph missing an implementation": (
        "INTERFACE_KEY_MISSING_IMPLEMENTATION_TYPE",
        {
            "a": FED2 + "type Query { n: Node }\n"
            'interface Node @key(fields: "id") { id: ID! }\n'
            'type Doc implements Node @key(fields: "id") { id: ID! }',
            "b": FED2 + 'interface Node @key(fields: "id") { id: ID! }\n'
            'type Doc implements Node @key(fields: "id") { id: ID! }\n'
            'type Note implements Node @key(fields: "id") { id: ID! }',
        },
    ),
    "shared abstract field with no runtime type in common": (
        "SHAREABLE_HAS_MISMATCHED_RUNTIME_TYPES",
        {
            "a": FED2 + "type Query { n: Node @shareable }\ninterface Node { id: ID! }\n"
            'type Doc implements Node @key(fields: "id") { id: ID! }',
            "b": FED2 + "type Query { n: Node @shareable }\ninterface Node { id: ID! }\n"
            'type Note implements Node @key(fields: "id") { id: ID! }',
        },
    ),
    "interface field an implementation lacks once merged": (
        "INTERFACE_FIELD_NO_IMPLEM",
        {
            "a": FED2 + "type Query { n: Node @shareable }\ninterface Node { id: ID! }\n"
            "type Doc implements Node { id: ID! }",
            "b": FED2 + "type Query { n: Node @shareable }\n"
            "interface Node { id: ID! title: String }\n"
            'type Note implements Node @key(fields: "id") { id: ID! title: String }',
        },
    ),
    "syntax error": (
        "INVALID_GRAPHQL",
        {"a": FED2 + "type Query { p: Person"},
    ),
}


# Subgraphs that compose, but with things dropped an author may not expect: each gives a hint.
HINTED = {
    "a": FED2 + "type Query { people(status: String, limit: Int): [P] @shareable "
    "find(f: Filter, k: Kind): Int }\n"
    "input Filter { name: String, age: Int }\nenum Kind { A B }\n"
    'type P @key(fields: "id") { id: ID! n: String @override(from: "ghost") }',
    "b": FED2 + "type Query { people(status: String): [P] @shareable other(f: Filter, k: Kind): "
    "Int }\ninput Filter { name: String }\nenum Kind { A }\n"
    'type P @key(fields: "id") { id: ID! }',
}
