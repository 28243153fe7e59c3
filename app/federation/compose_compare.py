"""Compare two supergraphs by meaning, not by text.

Two composers (or two versions of one) may order definitions, fields and directive
applications differently; a gateway does not care. This module prints each definition in a
canonical form so a supergraph can be checked against a reference one, and says what differs.
"""

from __future__ import annotations

import difflib

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputValueDefinitionNode,
    SchemaDefinitionNode,
    UnionTypeDefinitionNode,
    parse,
    print_ast,
)


def canonical(sdl: str) -> dict[str, str]:
    """Definition name -> a printed form that ignores the order of unordered things."""
    document: DocumentNode = parse(sdl, no_location=True)
    out: dict[str, str] = {}
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            name = "schema"
        else:
            name = definition.name.value  # type: ignore[attr-defined]
        out[name] = _canonical_node(definition)
    return out


def _sorted_directives(node: object) -> list[str]:
    return sorted(print_ast(d) for d in getattr(node, "directives", None) or ())


def _canonical_node(node: object) -> str:
    lines = [type(node).__name__]
    if isinstance(node, SchemaDefinitionNode):
        lines += _sorted_directives(node)
        lines += sorted(f"{o.operation.value}: {o.type.name.value}" for o in node.operation_types)
        return "\n".join(lines)
    description = getattr(node, "description", None)
    if description is not None:
        lines.append("description: " + description.value.strip())
    lines += _sorted_directives(node)
    if getattr(node, "interfaces", None):
        lines.append("implements " + " & ".join(sorted(i.name.value for i in node.interfaces)))
    if isinstance(node, UnionTypeDefinitionNode):
        lines.append("= " + " | ".join(sorted(t.name.value for t in node.types)))
    if isinstance(node, EnumTypeDefinitionNode):
        for value in sorted(node.values, key=lambda v: v.name.value):
            lines.append(f"  {value.name.value} {' '.join(_sorted_directives(value))}")
    for field in sorted(getattr(node, "fields", None) or (), key=lambda f: f.name.value):
        lines.append("  " + _canonical_field(field))
    if hasattr(node, "locations"):
        lines.append(print_ast(node))
    return "\n".join(lines)


def _canonical_field(field: FieldDefinitionNode | InputValueDefinitionNode) -> str:
    text = field.name.value
    args = getattr(field, "arguments", None) or ()
    if args:
        text += "(" + ", ".join(_canonical_field(a) for a in sorted(args, key=_name)) + ")"
    text += ": " + print_ast(field.type)
    default = getattr(field, "default_value", None)
    if default is not None:
        text += " = " + print_ast(default)
    directives = _sorted_directives(field)
    if directives:
        text += " " + " ".join(directives)
    return text


def _name(node: object) -> str:
    return node.name.value  # type: ignore[attr-defined]


def supergraph_differences(ours: str, theirs: str) -> list[str]:
    """Human-readable differences between two supergraphs (empty: equivalent)."""
    a, b = canonical(ours), canonical(theirs)
    diffs: list[str] = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            diffs.append(f"missing {name}")
        elif name not in b:
            diffs.append(f"extra {name}")
        elif a[name] != b[name]:
            delta = difflib.unified_diff(
                b[name].splitlines(),
                a[name].splitlines(),
                "reference",
                "composed",
                lineterm="",
                n=0,
            )
            diffs.append(f"{name} differs:\n" + "\n".join(list(delta)[2:]))
    return diffs
