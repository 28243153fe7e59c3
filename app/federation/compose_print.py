"""Print a merged supergraph as Federation 2 supergraph SDL (``link`` v1.0, ``join`` v0.3+)."""

from __future__ import annotations

import json

from graphql import ConstDirectiveNode, print_ast
from graphql.language.block_string import print_block_string

from app.federation.compose_merge import JoinField, MergedField, MergedType, Supergraph
from app.federation.compose_subgraph import Access

LINK = "https://specs.apollo.dev/link/v1.0"
JOIN = "https://specs.apollo.dev/join/v{version}"
INACCESSIBLE = "https://specs.apollo.dev/inaccessible/v0.2"
TAG = "https://specs.apollo.dev/tag/v0.3"

_JOIN_FIELD_ARGS = {
    "0.3": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean",
    "0.4": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String",
    "0.5": "graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, "
    "external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String, "
    "contextArguments: [join__ContextArgument!]",
}
_LOCATIONS_ALL = (
    "FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | "
    "ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
_ACCESS_LOCATIONS = "FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"
_ACCESS_DEFINITIONS = {
    "authenticated": f"directive @authenticated on {_ACCESS_LOCATIONS}",
    "requiresScopes": "directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on "
    + _ACCESS_LOCATIONS,
    "policy": f"directive @policy(policies: [[policy__Policy!]!]!) on {_ACCESS_LOCATIONS}",
    "cost": "directive @cost(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | "
    "INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    "listSize": "directive @listSize(assumedSize: Int, slicingArguments: [String!], "
    "sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
}
_PURPOSE = '''enum link__Purpose {
  """
  `SECURITY` features provide metadata necessary to securely resolve fields.
  """
  SECURITY

  """
  `EXECUTION` features provide metadata necessary for operation execution.
  """
  EXECUTION
}'''


def print_supergraph(supergraph: Supergraph) -> str:
    version = supergraph.join_version
    blocks: list[str] = [_schema(supergraph)]
    directives: dict[str, str] = {}
    if version != "0.3":
        directives["join__directive"] = (
            "directive @join__directive(graphs: [join__Graph!], name: String!, "
            "args: join__DirectiveArguments) repeatable on SCHEMA | OBJECT | INTERFACE | "
            "FIELD_DEFINITION"
        )
    directives.update(
        {
            "join__enumValue": "directive @join__enumValue(graph: join__Graph!) repeatable on "
            "ENUM_VALUE",
            "join__field": f"directive @join__field({_JOIN_FIELD_ARGS[version]}) repeatable on "
            "FIELD_DEFINITION | INPUT_FIELD_DEFINITION",
            "join__graph": "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
            "join__implements": "directive @join__implements(graph: join__Graph!, "
            "interface: String!) repeatable on OBJECT | INTERFACE",
            "join__type": "directive @join__type(graph: join__Graph!, key: join__FieldSet, "
            "extension: Boolean! = false, resolvable: Boolean! = true, "
            "isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | "
            "ENUM | INPUT_OBJECT | SCALAR",
            "join__unionMember": "directive @join__unionMember(graph: join__Graph!, "
            "member: String!) repeatable on UNION",
            "link": "directive @link(url: String, as: String, for: link__Purpose, "
            "import: [link__Import]) repeatable on SCHEMA",
        }
    )
    if supergraph.uses_inaccessible:
        directives["inaccessible"] = f"directive @inaccessible on {_LOCATIONS_ALL}"
    if supergraph.uses_tag:
        directives["tag"] = f"directive @tag(name: String!) repeatable on {_LOCATIONS_ALL} | SCHEMA"
    for name, composed in supergraph.composed.items():
        if composed.definition is not None:
            directives[name] = print_ast(composed.definition)
    if supergraph.uses_context:
        directives["context"] = (
            "directive @context(name: String!) repeatable on INTERFACE | OBJECT | UNION"
        )
        directives["context__fromContext"] = (
            "directive @context__fromContext(field: context__ContextFieldValue) on "
            "ARGUMENT_DEFINITION"
        )
    for feature in supergraph.access_features - {"cost", "listSize"}:
        directives[feature] = _ACCESS_DEFINITIONS[feature]
    if supergraph.access_features & {"cost", "listSize"}:
        # the cost spec defines both; @listSize keeps its namespace unless imported
        directives["cost"] = _ACCESS_DEFINITIONS["cost"]
        list_size = "listSize" if "listSize" in supergraph.access_features else "cost__listSize"
        directives[list_size] = _ACCESS_DEFINITIONS["listSize"].replace(
            "@listSize", "@" + list_size
        )
    blocks.extend(directives[name] for name in sorted(directives, key=str.lower))

    types: dict[str, str] = {}
    if version == "0.5":
        types["join__ContextArgument"] = (
            "input join__ContextArgument {\n  name: String!\n  type: String!\n"
            "  context: String!\n  selection: join__FieldValue!\n}"
        )
        types["join__FieldValue"] = "scalar join__FieldValue"
    if version != "0.3":
        types["join__DirectiveArguments"] = "scalar join__DirectiveArguments"
    types["join__FieldSet"] = "scalar join__FieldSet"
    graph_lines = [
        f"  {enum} @join__graph(name: {json.dumps(name)}, url: {json.dumps(url)})"
        for enum, name, url in supergraph.graphs
    ]
    types["join__Graph"] = "enum join__Graph {\n" + "\n".join(graph_lines) + "\n}"
    types["link__Import"] = "scalar link__Import"
    if supergraph.uses_context:
        types["context__ContextFieldValue"] = "scalar context__ContextFieldValue"
    if "policy" in supergraph.access_features:
        types["policy__Policy"] = "scalar policy__Policy"
    if "requiresScopes" in supergraph.access_features:
        types["requiresScopes__Scope"] = "scalar requiresScopes__Scope"
    types["link__Purpose"] = _PURPOSE
    for name, merged in supergraph.types.items():
        types[name] = _type(merged)
    blocks.extend(types[name] for name in sorted(types, key=_sort_key))
    return "\n\n".join(blocks)


def _sort_key(name: str) -> tuple[str, str]:
    return (name.lower(), name)


def _schema(supergraph: Supergraph) -> str:
    links = [
        f'@link(url: "{LINK}")',
        f'@link(url: "{JOIN.format(version=supergraph.join_version)}", for: EXECUTION)',
    ]
    if supergraph.uses_inaccessible:
        links.append(f'@link(url: "{INACCESSIBLE}", for: SECURITY)')
    if supergraph.uses_tag:
        links.append(f'@link(url: "{TAG}")')
    if supergraph.uses_context:
        links.append('@link(url: "https://specs.apollo.dev/context/v0.1", for: SECURITY)')
    for feature in ("authenticated", "requiresScopes", "policy"):
        if feature in supergraph.access_features:
            links.append(f'@link(url: "https://specs.apollo.dev/{feature}/v0.1", for: SECURITY)')
    if supergraph.access_features & {"cost", "listSize"}:
        imports = ', import: ["@listSize"]' if "listSize" in supergraph.access_features else ""
        links.append(f'@link(url: "https://specs.apollo.dev/cost/v0.1"{imports})')
    by_url: dict[str, list[str]] = {}
    for composed in supergraph.composed.values():
        quoted = json.dumps("@" + composed.name)
        entry = quoted
        if composed.imported_as is not None:
            entry = "{name: " + quoted + ", as: " + json.dumps(composed.imported_as) + "}"
        by_url.setdefault(composed.url, []).append(entry)
    for url, imports in by_url.items():
        links.append(f"@link(url: {json.dumps(url)}, import: [{', '.join(imports)}])")
    operations = "\n".join(f"  {root.lower()}: {root}" for root in supergraph.roots)
    return "schema\n" + "\n".join(f"  {link}" for link in links) + "\n{\n" + operations + "\n}"


def _description(text: str | None, indent: str = "") -> str:
    if text is None:
        return ""
    block = print_block_string(text)
    return "\n".join(indent + line if line else line for line in block.split("\n")) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _join_type(join: dict[str, object]) -> str:
    args = ", ".join(f"{k}: {v if k == 'graph' else _value(v)}" for k, v in join.items())
    return f"@join__type({args})"


def _join_field(join: JoinField) -> str:
    args = [f"graph: {join.graph}"]
    if join.requires is not None:
        args.append(f"requires: {_value(join.requires)}")
    if join.provides is not None:
        args.append(f"provides: {_value(join.provides)}")
    if join.override is not None:
        args.append(f"override: {_value(join.override)}")
    if join.type is not None:
        args.append(f"type: {_value(join.type)}")
    if join.external:
        args.append("external: true")
    if join.used_overridden:
        args.append("usedOverridden: true")
    if join.override_label is not None:
        args.append(f"overrideLabel: {_value(join.override_label)}")
    if join.context_arguments:
        items = [
            "{" + ", ".join(f"{k}: {_value(v)}" for k, v in item.items()) + "}"
            for item in join.context_arguments
        ]
        args.append(f"contextArguments: [{', '.join(items)}]")
    return f"@join__field({', '.join(args)})"


def _common(inaccessible: bool, tags: list[str], directives: list[ConstDirectiveNode]) -> list[str]:
    applied = []
    if inaccessible:
        applied.append("@inaccessible")
    applied.extend(f"@tag(name: {_value(tag)})" for tag in tags)
    applied.extend(print_ast(directive) for directive in directives)
    return applied


def _access(access: Access) -> list[str]:
    applied = []
    if access.authenticated:
        applied.append("@authenticated")
    if access.scopes is not None:
        applied.append(f"@requiresScopes(scopes: {json.dumps(access.scopes)})")
    if access.policies is not None:
        applied.append(f"@policy(policies: {json.dumps(access.policies)})")
    if access.list_size is not None:
        applied.append(print_ast(access.list_size))
    if access.cost is not None:
        applied.append(f"@cost(weight: {access.cost})")
    return applied


def _deprecated(reason: str | None) -> list[str]:
    if reason is None:
        return []
    if reason == "No longer supported":
        return ["@deprecated"]
    return [f"@deprecated(reason: {_value(reason)})"]


def _type(merged: MergedType) -> str:
    keyword = {
        "object": "type",
        "interface": "interface",
        "union": "union",
        "enum": "enum",
        "input": "input",
        "scalar": "scalar",
    }[merged.kind]
    head = f"{keyword} {merged.name}"
    if merged.interfaces:
        head += " implements " + " & ".join(merged.interfaces)
    applied = [f'@join__implements(graph: {g}, interface: "{i}")' for g, i in merged.implements]
    applied.extend(_join_type(join) for join in merged.join_types)
    applied.extend(
        f'@join__unionMember(graph: {g}, member: "{m}")' for g, m in merged.union_members
    )
    applied.extend(_common(merged.inaccessible, merged.tags, merged.directives))
    if merged.specified_by:
        applied.append(f"@specifiedBy(url: {_value(merged.specified_by)})")
    applied.extend(_access(merged.access))
    applied.extend(f"@context(name: {_value(c)})" for c in merged.contexts)
    text = _description(merged.description) + head
    if applied:
        text += "\n" + "\n".join(f"  {a}" for a in applied)
    if merged.kind == "union":
        return text + "\n = " + " | ".join(merged.members)
    if merged.kind == "scalar":
        return text
    if merged.kind == "enum":
        lines = []
        for value in merged.values.values():
            parts = [value.name]
            parts.extend(f"@join__enumValue(graph: {g})" for g in value.graphs)
            parts.extend(_deprecated(value.deprecated))
            parts.extend(_common(value.inaccessible, value.tags, value.directives))
            lines.append(_description(value.description, "  ") + "  " + " ".join(parts))
        return text + "\n{\n" + "\n".join(lines) + "\n}"
    lines = [_field(f) for f in merged.fields.values()]
    return text + "\n{\n" + "\n".join(lines) + "\n}"


def _field(field: MergedField) -> str:
    text = "  " + field.name
    if field.args:
        args = []
        for arg in field.args.values():
            rendered = f"{arg.name}: {arg.type}"
            if arg.default is not None:
                rendered += f" = {arg.default}"
            rendered += "".join(
                " " + a for a in _common(arg.inaccessible, arg.tags, arg.directives)
            )
            if arg.description:
                args.append(None)
                break
            args.append(rendered)
        if None in args:
            parts = []
            for arg in field.args.values():
                rendered = f"{arg.name}: {arg.type}"
                if arg.default is not None:
                    rendered += f" = {arg.default}"
                rendered += "".join(
                    " " + a for a in _common(arg.inaccessible, arg.tags, arg.directives)
                )
                parts.append(_description(arg.description, "    ") + "    " + rendered)
            text += "(\n" + "\n".join(parts) + "\n  )"
        else:
            text += "(" + ", ".join(args) + ")"  # type: ignore[arg-type]
    text += f": {field.type}"
    if field.default is not None:
        text += f" = {field.default}"
    applied: list[str] = ["@inaccessible"] if field.inaccessible else []
    if field.bare_join:
        applied.append("@join__field")
    elif field.joins is not None:
        applied.extend(_join_field(join) for join in field.joins)
    applied.extend(_deprecated(field.deprecated))
    applied.extend(_access(field.access))
    applied.extend(_common(False, field.tags, field.directives))
    if applied:
        text += " " + " ".join(applied)
    return _description(field.description, "  ") + text
