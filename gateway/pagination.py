"""Pages of list results: a default page size for list fields, and Relay connections with keyset cursors.

A list root field returns at most ``GATEWAY_DEFAULT_PAGE_SIZE`` records unless the caller asks
for more with ``limit`` (up to ``GATEWAY_MAX_PAGE_SIZE``). A root field whose type is a Relay
connection (``edges { node cursor }`` and ``pageInfo``) pages with ``first``/``after``: the plan
runs unchanged except that its result step is ordered with ``id`` as the last tie-break and,
after a cursor, filtered to the rows past it. A cursor holds the ordering's values of the last
row it points at (a keyset), so inserts and deletes elsewhere never shift or repeat a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode

from .errors import PageInvalid
from .plan import Filter, Find, Order, Plan
from .selection import Fragments, fields_by_name

Record = dict[str, Any]


@dataclass
class Page:
    """What one request asked for: ``size`` records starting after ``position`` (and ``after``)."""

    size: int
    connection: bool
    after: dict[str, Any] | None = None
    position: int = 0
    keys: tuple[Order, ...] = ()  # the result step's ordering, id last, when paged by keyset
    has_next: bool = False
    has_previous: bool = False
    offset_paged: bool = False  # the store skipped ``position`` rows already (an expression ordering)


def page_size(requested: Any, default: int, maximum: int, argument: str) -> int:
    """The page size a caller asked for (``limit`` or ``first``), checked against the maximum."""
    if requested is None:
        return default
    if not isinstance(requested, int) or requested < 0:
        raise PageInvalid(f"`{argument}` must be zero or more", argument=argument)
    if requested > maximum:
        raise PageInvalid(
            f"`{argument}: {requested}` is over the largest page, {maximum} "
            "(GATEWAY_MAX_PAGE_SIZE); ask for the next page instead",
            argument=argument,
            maxPageSize=maximum,
        )
    return requested


def node_field_nodes(field_nodes: list[FieldNode], fragments: Fragments) -> list[FieldNode]:
    """The ``edges { node { ... } }`` selections of a connection field, for planning and loading."""
    edges = fields_by_name((n.selection_set for n in field_nodes), fragments).get("edges", [])
    return fields_by_name((e.selection_set for e in edges), fragments).get("node", [])


# -- plain lists --------------------------------------------------------------------------
def page_list(plan: Plan, size: int) -> tuple[Plan, Page]:
    """Cap a reading plan's result step at ``size`` rows, fetching one more to tell if more exist."""
    page = Page(size=size, connection=False)
    step = plan.steps[plan.result_index]
    if plan.writes or not isinstance(step, (Find, Filter)):
        return plan, page
    if step.limit is not None and step.limit <= size:
        return plan, page
    return _with_step(plan, step.model_copy(update={"limit": size + 1})), page


def cut(records: list[Record], page: Page) -> list[Record]:
    """The records of the page; notes whether more were there."""
    start = page.position if page.connection and not page.keys and not page.offset_paged else 0
    page.has_next = len(records) > start + page.size
    return records[start : start + page.size]


# -- connections --------------------------------------------------------------------------
def page_connection(plan: Plan, size: int, after: str | None) -> tuple[Plan, Page]:
    """The plan narrowed to one page of a connection: ordered with an id tie-break, past ``after``."""
    step = plan.steps[plan.result_index]
    page = Page(size=size, connection=True)
    if not isinstance(step, Find) or plan.writes:
        # results that are not a store query (connector rows, written records) page by position
        page.position = _decode(after, "")["n"] if after else 0
        page.has_previous = page.position > 0
        return plan, page
    if any(o.field is None or o.field.startswith("$") for o in step.orderBy):
        # an ordering by an expression or by creation order: the row does not carry the value a
        # keyset needs, so these pages go by position (stable while no row is added or removed)
        position = _decode(after, "p")["n"] if after else 0
        page.position, page.has_previous, page.offset_paged = position, position > 0, True
        start = (step.offset or 0) + position
        limit = size + 1 if step.limit is None else min(size + 1, max(step.limit - position, 0))
        return _with_step(plan, step.model_copy(update={"offset": start or None, "limit": limit})), page
    keys = tuple(step.orderBy) + (() if any(o.field == "id" for o in step.orderBy) else (Order(field="id"),))
    keys = keys[: next(i for i, o in enumerate(keys) if o.field == "id") + 1]
    page.keys = keys
    signature = _signature(step.model, keys)
    where = step.where
    limit = size + 1
    position = 0
    if after:
        cursor = _decode(after, signature)
        values, position = cursor["v"], cursor["n"]
        if not isinstance(values, list) or len(values) != len(keys) or not isinstance(position, int):
            raise PageInvalid("`after` is not a cursor of this field; start again without it", argument="after")
        past = _past(keys, values)
        where = {"and": [where, past]} if where else past
        page.has_previous = True
    page.position = position
    if step.limit is not None and step.limit - position <= size:
        limit = max(step.limit - position, 0)  # the plan's own limit ends the pages here
    changes: dict[str, Any] = {"orderBy": list(keys), "where": where, "limit": limit}
    if after:
        changes["offset"] = None
    return _with_step(plan, step.model_copy(update=changes)), page


def connection(records: list[Record], page: Page) -> dict[str, Any]:
    """The Relay connection object: edges with cursors, and pageInfo."""
    rows = cut(records, page)
    edges = []
    for i, r in enumerate(rows):
        payload: dict[str, Any] = {"n": page.position + i + 1}
        if page.offset_paged:
            payload["s"] = "p"
        elif page.keys:
            payload |= {"s": _signature(r.get("__typename", ""), page.keys), "v": [r.get(_field(o)) for o in page.keys]}
        edges.append({"node": r, "cursor": _encode(payload)})
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": page.has_next,
            "hasPreviousPage": page.has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _with_step(plan: Plan, step: Any) -> Plan:
    """The plan with its result step replaced (a new plan: its parsed tree is built afresh)."""
    steps = list(plan.steps)
    steps[plan.result_index] = step
    return Plan(steps=steps, result=plan.result, params=plan.params)


def _past(keys: tuple[Order, ...], values: list[Any]) -> dict[str, Any]:
    """A plan filter for the rows that sort after ``values`` under ``keys`` (a keyset condition).

    NULLs sort last in either direction on every store (``SqlCompiler.order``), so the
    condition agrees with the ``ORDER BY`` it continues.
    """
    alternatives: list[dict[str, Any]] = []
    equal: list[dict[str, Any]] = []
    for order, value in zip(keys, values, strict=True):
        after = _after(order, value)
        if after is not None:
            alternatives.append({"and": [*equal, after]} if equal else after)
        field = _field(order)
        equal.append({field: {"isNull": True}} if value is None else {field: {"eq": value}})
    return alternatives[0] if len(alternatives) == 1 else {"or": alternatives}


def _after(order: Order, value: Any) -> dict[str, Any] | None:
    """The condition for a value strictly past ``value`` in this key's direction, or None for none."""
    field = _field(order)
    if value is None:
        return None  # nulls come last: nothing but a later key sorts past them
    beyond = {field: {"gt" if order.direction == "asc" else "lt": value}}
    return {"or": [beyond, {field: {"isNull": True}}]}


def _field(order: Order) -> str:
    """A keyset key's field: keys are plain field orderings (expression orderings page by position)."""
    assert order.field is not None
    return order.field


def _signature(model: str, keys: tuple[Order, ...]) -> str:
    text = model + ":" + ",".join(f"{o.field} {o.direction}" for o in keys)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: Any, signature: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4))
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise PageInvalid("`after` is not a cursor this gateway handed out", argument="after") from e
    if not isinstance(data, dict) or not isinstance(data.get("n"), int) or data.get("s", "") != signature:
        raise PageInvalid("`after` is a cursor of another field or ordering; start again without it", argument="after")
    return data
