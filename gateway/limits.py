"""Request limits that graphql-core does not enforce itself: selection depth and field count."""

from __future__ import annotations

from graphql import DocumentNode, FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode
from graphql.language import SelectionSetNode


def check_complexity(document: DocumentNode, operation: OperationDefinitionNode, max_depth: int,
                     max_fields: int) -> str | None:
    """Return why the operation is too deep or too wide, or None when it is within limits."""
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    count = 0
    deepest = 0

    def walk(ss: SelectionSetNode | None, depth: int, seen: frozenset[str]) -> None:
        nonlocal count, deepest
        for sel in ss.selections if ss else ():
            if isinstance(sel, FieldNode):
                count += 1
                deepest = max(deepest, depth)
                if count > max_fields or deepest > max_depth:
                    return
                walk(sel.selection_set, depth + 1, seen)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set, depth, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments and sel.name.value not in seen:
                walk(fragments[sel.name.value].selection_set, depth, seen | {sel.name.value})

    walk(operation.selection_set, 1, frozenset())
    if deepest > max_depth:
        return f"the query is nested deeper than {max_depth} levels"
    if count > max_fields:
        return f"the query selects more than {max_fields} fields"
    return None
