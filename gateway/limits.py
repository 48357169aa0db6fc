"""Request limits graphql-core does not enforce itself: depth, field counts and the model token budget.

Costs are measured on the document before validation, in time linear in its size: each
fragment's cost is computed once (per context) and reused at every spread, so a chain of
fragments that each spread the next one twice costs one walk, not 2^n. Fields inside
``__schema``/``__type`` count against their own budget, sized so the standard introspection
query of codegen and GraphiQL passes while thousands of aliased ``__schema`` fields do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
)
from graphql.language import SelectionSetNode

from .errors import ModelBudgetExceeded

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_fields: int = 200
    max_introspection_fields: int = 500
    max_introspection_depth: int = 20


@dataclass(frozen=True)
class Cost:
    """Fields and depth of a selection, apart for ordinary and introspection fields."""

    fields: int = 0
    depth: int = 0
    introspection: int = 0
    introspection_depth: int = 0

    def plus(self, other: Cost, times: int = 1) -> Cost:
        return Cost(
            self.fields + other.fields * times,
            max(self.depth, other.depth),
            self.introspection + other.introspection * times,
            max(self.introspection_depth, other.introspection_depth),
        )

    def deeper(self) -> Cost:
        """The cost seen from one level up: every depth grows by one."""
        return Cost(
            self.fields,
            self.depth + 1 if self.depth else 0,
            self.introspection,
            self.introspection_depth + 1 if self.introspection_depth else 0,
        )


class TooComplex(Exception):
    """Raised as soon as a partial cost passes a limit: the rest of the document is not walked."""


class _Meter:
    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.limits = limits
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[tuple[str, bool], Cost] = {}
        self.open: set[tuple[str, bool]] = set()

    def check(self, cost: Cost) -> Cost:
        lim = self.limits
        if cost.depth > lim.max_depth:
            raise TooComplex(f"the query is nested deeper than {lim.max_depth} levels")
        if cost.fields > lim.max_fields:
            raise TooComplex(f"the query selects more than {lim.max_fields} fields")
        if cost.introspection_depth > lim.max_introspection_depth:
            raise TooComplex(f"the introspection query is nested deeper than {lim.max_introspection_depth} levels")
        if cost.introspection > lim.max_introspection_fields:
            raise TooComplex(f"the query selects more than {lim.max_introspection_fields} introspection fields")
        return cost

    def selection_set(self, ss: SelectionSetNode | None, intro: bool) -> Cost:
        total = Cost()
        for sel in ss.selections if ss else ():
            if isinstance(sel, FieldNode):
                inner = intro or sel.name.value in INTROSPECTION_ROOTS
                below = self.selection_set(sel.selection_set, inner).deeper()
                own = Cost(0, 0, 1, 1) if inner else Cost(1, 1, 0, 0)
                total = total.plus(own).plus(below)
            elif isinstance(sel, InlineFragmentNode):
                total = total.plus(self.selection_set(sel.selection_set, intro))
            elif isinstance(sel, FragmentSpreadNode):
                total = total.plus(self.fragment(sel.name.value, intro))
            self.check(total)
        return total

    def fragment(self, name: str, intro: bool) -> Cost:
        key = (name, intro)
        if key in self.memo:
            return self.memo[key]
        definition = self.fragments.get(name)
        if definition is None or key in self.open:  # unknown or cyclic: validation refuses it
            return Cost()
        self.open.add(key)
        cost = self.memo[key] = self.selection_set(definition.selection_set, intro)
        self.open.discard(key)
        return cost


def measure(document: DocumentNode, operation: OperationDefinitionNode, limits: Limits) -> Cost:
    """The operation's cost with fragments expanded; raises TooComplex at the first limit passed."""
    return _Meter(document, limits).selection_set(operation.selection_set, False)


def written_fields(document: DocumentNode, stop_after: int) -> int:
    """Field nodes as written in the whole document (unused fragments too), counted up to ``stop_after``."""
    count = 0
    stack: list[SelectionSetNode | None] = [getattr(d, "selection_set", None) for d in document.definitions]
    while stack and count <= stop_after:
        ss = stack.pop()
        for sel in ss.selections if ss else ():
            count += isinstance(sel, FieldNode)
            if isinstance(sel, (FieldNode, InlineFragmentNode)):  # a fragment spread has no selection of its own
                stack.append(sel.selection_set)
    return count


def check_complexity(document: DocumentNode, limits: Limits) -> str | None:
    """Why the document or one of its operations is too deep or too wide, or None when all fit.

    The written count bounds validation, whose overlapping-fields rule is quadratic in the
    fields that share a response name, even in a fragment no operation uses.
    """
    most = limits.max_fields + limits.max_introspection_fields
    if written_fields(document, most) > most:
        return f"the document holds more than {most} fields"
    meter = _Meter(document, limits)
    try:
        for d in document.definitions:
            if isinstance(d, OperationDefinitionNode):
                meter.selection_set(d.selection_set, False)
    except TooComplex as e:
        return str(e)
    except RecursionError:
        return "the query nests fragments or selections too deeply"
    return None


class TokenBudget:
    """Model tokens one incoming request may spend, over all its fields, operations and repairs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, tokens: int) -> None:
        self.spent += tokens

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit

    def check(self, prompt_chars: int = 0) -> None:
        """Refuse a model call once the budget is spent, or when its prompt alone would overspend it.

        A prompt is estimated at four characters a token, so a request text of a megabyte
        is refused before it reaches the model rather than billed after.
        """
        if self.exhausted:
            raise ModelBudgetExceeded(f"the request used up its budget of {self.limit} model tokens")
        if self.spent + prompt_chars // 4 > self.limit:
            raise ModelBudgetExceeded(f"the prompt alone would pass the request's budget of {self.limit} model tokens")
