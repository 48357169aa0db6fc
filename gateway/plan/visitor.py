"""One visitor over the plan's nodes, the way graphql-core walks a document.

A subclass defines ``visit_<NodeClass>(node, scope)`` for the nodes it cares about; every other
node is walked through to its children. ``scope`` is the model (or connector record shape)
whose rows the node talks about; it changes only where a filter goes through a reference,
which :class:`ScopedVisitor` handles once for everybody.
"""

from __future__ import annotations

from typing import Any

from ..sdl import Catalog, Model
from .nodes import Node, Related


class Visitor:
    """Dispatch on the node's class; walk children by default."""

    def visit(self, node: Node, scope: Any = None) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            return self.generic_visit(node, scope)
        return method(node, scope)

    def generic_visit(self, node: Node, scope: Any = None) -> Any:
        for child in node.children():
            self.visit(child, scope)
        return None


class ScopedVisitor(Visitor):
    """A visitor that follows ``Related`` filters into the referenced model."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def target(self, scope: Model | None, name: str) -> Model | None:
        f = scope.fields.get(name) if scope is not None else None
        if f is None or not f.is_reference:
            return None
        return self.catalog.models.get(f.type_name)

    def visit_Related(self, node: Related, scope: Model | None) -> Any:
        self.related(node, scope)
        inner = self.target(scope, node.field)
        if inner is not None:
            self.visit(node.where, inner)
        return None

    def related(self, node: Related, scope: Model | None) -> None:
        """Hook: a filter goes through ``node.field`` of ``scope``."""
