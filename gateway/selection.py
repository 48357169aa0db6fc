"""Resolve the client's nested selection from the store, one query per level.

The model only picks the root records; references such as ``tasks { project { name } }`` are
loaded here, batched: for each reference field at each level one ``IN (...)`` query serves
every parent record, never one query per row. A list of records is one page per parent
(``GATEWAY_DEFAULT_PAGE_SIZE``, or the field's ``limit`` argument), in creation order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    value_from_ast,
)
from sqlalchemy import Connection, func, select

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
    so the nested records come from the same snapshot as the root records. A list of records is
    a page per parent: ``page_size`` turns the field's ``limit`` argument (None when not given)
    into its size, as for root lists, and one more row per parent is read to tell whether more
    were left out.
    """

    def __init__(self, executor: Executor, catalog: Catalog, page_size: Callable[[Any], int]) -> None:
        self.executor = executor
        self.catalog = catalog
        self.page_size = page_size

    def check(self, field_nodes: list[FieldNode], fragments: Fragments, variables: dict[str, Any]) -> None:
        """Refuse a nested ``limit`` out of range before anything runs (PAGE_INVALID)."""
        todo = [n.selection_set for n in field_nodes]
        while todo:
            for nodes in fields_by_name([todo.pop()], fragments).values():
                for node in nodes:
                    self._size([node], variables)
                    todo.append(node.selection_set)

    def load_in(
        self,
        conn: Connection,
        records: list[Record],
        field_nodes: list[FieldNode],
        fragments: Fragments,
        type_name: str,
        variables: dict[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Load the selection under ``records`` of ``type_name`` on an open connection (the
        plan's own transaction): a model, or a shape (aggregate rows and connector records may
        reference stored records too).

        Returns each nested list's page (``{"size": 100, "more": true}``) by its field path.
        """
        pages: dict[str, dict[str, Any]] = {}
        sets = [n.selection_set for n in field_nodes]
        self._level(conn, records, sets, fragments, variables or {}, "", pages, type_name)
        return pages

    def _level(
        self,
        conn: Connection,
        records: list[Record],
        sets: list[Any],
        fragments: Fragments,
        variables: dict[str, Any],
        path: str,
        pages: dict[str, dict[str, Any]],
        type_name: str,
    ) -> None:
        if not records:
            return
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
                sub = [n.selection_set for n in nodes]
                if f is not None and f.kind == "json":  # embedded objects may reference records too
                    inner = [v for r in recs for v in _items(r.get(name)) if isinstance(v, dict)]
                    self._level(conn, inner, sub, fragments, variables, f"{path}{name}.", pages, f.type_name)
                    continue
                if f is None or not f.is_reference:
                    continue
                size = self._size(nodes, variables) if f.kind == "refs" else None
                children, more = self._fetch(conn, f, recs, size)
                if size is not None:
                    page = pages.setdefault(path + name, {"size": size, "more": False})
                    page["more"] = page["more"] or more
                self._level(conn, children, sub, fragments, variables, f"{path}{name}.", pages, f.type_name)

    def _size(self, nodes: list[FieldNode], variables: dict[str, Any]) -> int:
        """The page size of a nested list: the largest ``limit`` its selections ask for, else the default."""
        asked = []
        for node in nodes:
            for arg in node.arguments or ():
                if arg.name.value == "limit":
                    value = value_from_ast(arg.value, GraphQLInt, variables)
                    asked.append(None if value is Undefined else value)
        sizes = [self.page_size(a) for a in asked if a is not None]
        return max(sizes) if sizes else self.page_size(None)

    def _fetch(
        self, conn: Connection, f: ModelField, parents: list[Record], size: int | None
    ) -> tuple[list[Record], bool]:
        """Load ``f`` for every parent in one query, at most ``size`` records each.

        Returns the distinct children, and whether some parent had more than ``size``.
        """
        tables = self.executor.tables
        target = tables.table(f.type_name)
        rel = f.relation
        if rel is None:  # a shape's list of ids (a connector's record): no table links them
            return self._fetch_listed(conn, f, parents, size)
        if rel.kind == "fk":
            ids = list({p[f.name] for p in parents if isinstance(p.get(f.name), str)})
            found = {c["id"]: c for c in self.executor.fetch_by_ids(conn, f.type_name, ids)}
            for p in parents:
                p[f.name] = found.get(p[f.name]) if isinstance(p.get(f.name), str) else p.get(f.name)
            return list(found.values()), False
        parent_ids = [p["id"] for p in parents]
        if rel.kind == "reverse":
            assert rel.via is not None  # a reverse relation names its field (sdl)
            owner = target.c[rel.via]
            source: Any = target
        else:
            # a join relation names its table and both columns (sdl)
            assert rel.table is not None and rel.own_column is not None and rel.other_column is not None
            j = tables.joins[rel.table]
            owner = j.c[rel.own_column]
            source = target.join(j, j.c[rel.other_column] == target.c.id)
        order = (target.c[CREATED_COLUMN], target.c.id)
        number = func.row_number().over(partition_by=owner, order_by=order)
        numbered = (
            select(target, owner.label("__owner"), number.label("__n"))
            .select_from(source)
            .where(owner.in_(parent_ids))
            .subquery()
        )
        stmt = select(numbered).order_by(numbered.c[CREATED_COLUMN], numbered.c.id)
        if size is not None:
            stmt = stmt.where(numbered.c["__n"] <= size + 1)
        groups: dict[str, list[Record]] = defaultdict(list)
        distinct: dict[str, Record] = {}
        more = False
        for row in conn.execute(stmt).mappings():
            data = dict(row)
            owner_id, n = data.pop("__owner"), data.pop("__n")
            if size is not None and n > size:
                more = True
                continue
            child = distinct.setdefault(data["id"], self.executor.record(f.type_name, data))
            groups[owner_id].append(child)
        for p in parents:
            p[f.name] = groups.get(p["id"], [])
        return list(distinct.values()), more

    def _fetch_listed(
        self, conn: Connection, f: ModelField, parents: list[Record], size: int | None
    ) -> tuple[list[Record], bool]:
        """Records a parent lists by id, in its order, at most ``size`` each; ids with no record are left out."""
        wanted = list(dict.fromkeys(i for p in parents for i in _items(p.get(f.name)) if isinstance(i, str)))
        found = {c["id"]: c for c in self.executor.fetch_by_ids(conn, f.type_name, wanted)}
        more = False
        for p in parents:
            ids = p.get(f.name)
            if not isinstance(ids, list):
                continue
            listed = [found[i] for i in ids if isinstance(i, str) and i in found]
            more = more or (size is not None and len(listed) > size)
            p[f.name] = listed[:size] if size is not None else listed
        return list(found.values()), more


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
