"""Resolve the client's nested selection from the store, one query per level.

The model only picks the root records; references such as ``tasks { project { name } }`` are
loaded here, batched: for each reference field at each level one ``IN (...)`` query serves
every parent record, never one query per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from sqlalchemy import Connection, select

from .executor import Executor, Record
from .sdl import Catalog, ModelField
from .store.tables import CREATED_COLUMN

Fragments = dict[str, FragmentDefinitionNode]


def fields_by_name(
    selection_sets: Iterable[SelectionSetNode | None], fragments: Fragments
) -> dict[str, list[FieldNode]]:
    """Fields selected (through fragments too), keyed by field name so aliases merge."""
    out: dict[str, list[FieldNode]] = defaultdict(list)

    def walk(ss: SelectionSetNode | None) -> None:
        for sel in ss.selections if ss else ():
            if isinstance(sel, FieldNode):
                out[sel.name.value].append(sel)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                walk(fragments[sel.name.value].selection_set)

    for s in selection_sets:
        walk(s)
    return out


def describe_selection(field_nodes: list[FieldNode], fragments: Fragments, depth: int = 0) -> str:
    """A compact text of the selection for the prompt: ``title status project { name }``."""
    parts = []
    for name, nodes in fields_by_name((n.selection_set for n in field_nodes), fragments).items():
        if name.startswith("__"):
            continue
        subs = [n for n in nodes if n.selection_set]
        if subs and depth < 3:
            parts.append(f"{name} {{ {describe_selection(subs, fragments, depth + 1)} }}")
        else:
            parts.append(name)
    return " ".join(parts)


class Prefetcher:
    """Fills reference fields of result records according to the selection.

    It runs on the plan's own connection, inside its transaction (``Executor.run``'s ``then``),
    so the nested records come from the same snapshot as the root records.
    """

    def __init__(self, executor: Executor, catalog: Catalog) -> None:
        self.executor = executor
        self.catalog = catalog

    def load(
        self,
        conn: Connection,
        records: list[Record],
        field_nodes: list[FieldNode],
        fragments: Fragments,
        type_name: str,
    ) -> None:
        """Load the selection under ``records`` of ``type_name`` (a model, or a shape: aggregate
        rows and connector records may reference stored models too)."""
        self._level(conn, records, [n.selection_set for n in field_nodes], fragments, type_name)

    def _level(
        self, conn: Connection, records: list[Record], sets: list[Any], fragments: Fragments, type_name: str
    ) -> None:
        selected = fields_by_name(sets, fragments)
        by_type: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            by_type[r.get("__typename") or type_name].append(r)  # aggregate rows carry no __typename
        for name_of_type, recs in by_type.items():
            owner = self.catalog.object_type(name_of_type)
            if owner is None:
                continue
            for name, nodes in selected.items():
                f = owner.fields.get(name)
                if f is not None and f.kind == "json":  # embedded objects may reference records too
                    inner = [v for r in recs for v in _items(r.get(name)) if isinstance(v, dict)]
                    self._level(conn, inner, [n.selection_set for n in nodes], fragments, f.type_name)
                    continue
                if f is None or not f.is_reference:
                    continue
                children = self._fetch(conn, f, recs)
                if children:
                    self._level(conn, children, [n.selection_set for n in nodes], fragments, f.type_name)

    def _fetch(self, conn: Connection, f: ModelField, parents: list[Record]) -> list[Record]:
        """Load ``f`` for every parent in one query; return the distinct children."""
        tables = self.executor.tables
        target = tables.table(f.type_name)
        rel = f.relation
        if rel is None:  # a shape's list of ids (a connector's record): no table links them
            wanted = list(dict.fromkeys(i for p in parents for i in p.get(f.name) or () if isinstance(i, str)))
            found = {c["id"]: c for c in self.executor.fetch_by_ids(conn, f.type_name, wanted)}
            for p in parents:
                ids = p.get(f.name)
                p[f.name] = [found[i] for i in ids if i in found] if isinstance(ids, list) else ids
            return list(found.values())
        if rel.kind == "fk":
            ids = list({p[f.name] for p in parents if isinstance(p.get(f.name), str)})
            found = {c["id"]: c for c in self.executor.fetch_by_ids(conn, f.type_name, ids)}
            for p in parents:
                p[f.name] = found.get(p[f.name]) if isinstance(p.get(f.name), str) else p.get(f.name)
            return list(found.values())
        parent_ids = [p["id"] for p in parents]
        if rel.kind == "reverse":
            assert rel.via is not None  # a reverse relation names its field (sdl)
            stmt = (
                select(target, target.c[rel.via].label("__owner"))
                .where(target.c[rel.via].in_(parent_ids))
                .order_by(target.c[CREATED_COLUMN], target.c.id)
            )
        else:
            # a join relation names its table and both columns (sdl)
            assert rel.table is not None and rel.own_column is not None and rel.other_column is not None
            j = tables.joins[rel.table]
            stmt = (
                select(target, j.c[rel.own_column].label("__owner"))
                .join(j, j.c[rel.other_column] == target.c.id)
                .where(j.c[rel.own_column].in_(parent_ids))
                .order_by(target.c[CREATED_COLUMN], target.c.id)
            )
        groups: dict[str, list[Record]] = defaultdict(list)
        distinct: dict[str, Record] = {}
        for row in conn.execute(stmt).mappings():
            data = dict(row)
            owner = data.pop("__owner")
            child = distinct.setdefault(data["id"], self.executor.record(f.type_name, data))
            groups[owner].append(child)
        for p in parents:
            p[f.name] = groups.get(p["id"], [])
        return list(distinct.values())


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
