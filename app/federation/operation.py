"""Normalize a validated operation into a fragment-free tree the planner and projection share.

Named fragments become type-conditioned items, ``@skip``/``@include`` are decided with the
request's variables (the plan cache key includes those decisions), and nothing else is lost:
arguments keep their variable references so subgraph fetches forward them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    print_ast,
)


@dataclass(eq=False)
class Field:
    key: str
    name: str
    args: tuple[ArgumentNode, ...] = ()
    items: list[Item] | None = None

    @property
    def signature(self) -> str:
        return self.name + args_text(self.args)

    def with_items(self, items: list[Item] | None) -> Field:
        return Field(self.key, self.name, self.args, items)


@dataclass(eq=False)
class Fragment:
    type: str
    items: list[Item] = field(default_factory=list)


Item = Field | Fragment


def args_text(args: tuple[ArgumentNode, ...]) -> str:
    if not args:
        return ""
    return "(" + ", ".join(print_ast(arg) for arg in args) + ")"


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((op for op in operations if op.name and op.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


def conditional_variables(document: DocumentNode) -> list[str]:
    """Variables that decide ``@skip``/``@include``: their values are part of the plan key."""
    found: list[str] = []

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    for arg in directive.arguments or ():
                        if isinstance(arg.value, VariableNode):
                            found.append(arg.value.name.value)
            if not isinstance(selection, FragmentSpreadNode):
                visit(selection.selection_set)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            visit(definition.selection_set)
    return sorted(set(found))


def normalize(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> list[Item]:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {}
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None and isinstance(
            definition.default_value, BooleanValueNode
        ):
            defaults[definition.variable.name.value] = definition.default_value.value

    def included(node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            arg = next((a for a in directive.arguments or () if a.name.value == "if"), None)
            if arg is None:
                continue
            if isinstance(arg.value, VariableNode):
                var = arg.value.name.value
                value = bool(variables.get(var, defaults.get(var, False)))
            else:
                value = bool(getattr(arg.value, "value", False))
            if (name == "skip" and value) or (name == "include" and not value):
                return False
        return True

    def convert(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> list[Item]:
        items: list[Item] = []
        for selection in selection_set.selections if selection_set else ():
            if not included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                sub = (
                    convert(selection.selection_set, seen)
                    if selection.selection_set is not None
                    else None
                )
                items.append(
                    Field(key, selection.name.value, tuple(selection.arguments or ()), sub)
                )
            elif isinstance(selection, InlineFragmentNode):
                sub = convert(selection.selection_set, seen)
                if selection.type_condition is None:
                    items.extend(sub)
                else:
                    items.append(Fragment(selection.type_condition.name.value, sub))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                definition = fragments.get(name)
                if definition is None or name in seen:
                    continue
                sub = convert(definition.selection_set, seen | {name})
                items.append(Fragment(definition.type_condition.name.value, sub))
        return items

    return convert(operation.selection_set, frozenset())
