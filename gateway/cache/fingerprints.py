"""Schema fingerprints: which SDL parts a plan depends on, hashed, so a change drops exactly its plans.

Works on the plan's JSON, so it does not depend on the plan's Python classes. Over-counting a
dependency only makes invalidation broader, never wrong.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graphql import print_ast, print_schema, print_type

from ..sdl import Catalog


def plan_dependencies(catalog: Catalog, plan: dict[str, Any]) -> list[str]:
    """Types a plan relies on: models of its steps and their filters' references, enums, connectors."""
    models: set[str] = set()
    connectors: set[str] = set()

    def walk_where(model_name: str, where: Any, depth: int = 0) -> None:
        model = catalog.models.get(model_name)
        if model is None or depth > 20:
            return
        if isinstance(where, list):
            for w in where:
                walk_where(model_name, w, depth + 1)
            return
        if not isinstance(where, dict):
            return
        for key, cond in where.items():
            f = model.fields.get(key)
            if f is not None and f.is_reference:
                models.add(f.type_name)
                walk_where(f.type_name, cond, depth + 1)
            elif f is None:
                walk_where(model_name, cond, depth + 1)  # and / or / not

    def walk_paths(model_name: str, node: Any, depth: int = 0) -> None:
        """Models reached by dotted field paths in expressions and orderings (``project.name``)."""
        if depth > 40:
            return
        if isinstance(node, list):
            for n in node:
                walk_paths(model_name, n, depth + 1)
        elif isinstance(node, dict):
            path = node.get("field")
            if isinstance(path, str) and "." in path:
                current = catalog.models.get(model_name)
                for part in path.split(".")[:-1]:
                    f = current.fields.get(part) if current is not None else None
                    if f is None or not f.is_reference:
                        break
                    models.add(f.type_name)
                    current = catalog.models.get(f.type_name)
            for v in node.values():
                walk_paths(model_name, v, depth + 1)

    for step in plan.get("steps") or []:
        if not isinstance(step, dict):
            continue
        model = step.get("model")
        if isinstance(model, str):
            models.add(model)
            walk_where(model, step.get("where"))
            walk_paths(model, step)
        connector = step.get("connector")
        if isinstance(connector, str):
            connectors.add(f"connector:{connector}")
            c = catalog.connectors.get(connector)
            if c is not None:
                models.add(c.returns)
    types = [t for t in map(catalog.object_type, models) if t is not None]
    enums = {f.type_name for t in types for f in t.fields.values() if f.type_name in catalog.enums}
    return sorted(models | enums | connectors)


def fingerprint(catalog: Catalog, field_key: str, deps: list[str]) -> str:
    """A hash of the SDL parts in ``deps`` and the root field's definition."""
    operation, _, name = field_key.partition(".")
    root_type = catalog.schema.query_type if operation == "query" else catalog.schema.mutation_type
    definition = root_type.fields.get(name) if root_type is not None else None
    parts = [f"{operation} {print_ast(definition.ast_node) if definition and definition.ast_node else 'missing'}"]
    root = catalog.root_fields.get(field_key)
    names = set(deps)
    if root is not None and root.type_name in catalog.shapes:
        names.add(root.type_name)
    for n in sorted(names):
        if n.startswith("connector:"):
            c = catalog.connectors.get(n.split(":", 1)[1])
            parts.append(
                json.dumps([n, c.args_schema(), c.returns, c.side_effects], sort_keys=True, default=str)
                if c is not None
                else f"missing {n}"
            )
            continue
        t = catalog.schema.type_map.get(n)
        parts.append(print_type(t) if t is not None else f"missing {n}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def sdl_fingerprint(catalog: Catalog) -> str:
    """A hash of the whole contract as printed: a lock file is valid only for this SDL."""
    return hashlib.sha256(print_schema(catalog.schema).encode()).hexdigest()[:16]
