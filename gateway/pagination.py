"""Pages of list results: a default page size for list fields, and Relay connections with keyset cursors.

A list root field returns at most ``GATEWAY_DEFAULT_PAGE_SIZE`` records unless the caller asks
for more with ``limit`` (up to ``GATEWAY_MAX_PAGE_SIZE``). A root field whose type is a Relay
connection (``edges { node cursor }`` and ``pageInfo``) pages with ``first``/``after``: the plan
runs unchanged except that its result step is read one page at a time by its full order (the
plan's orderings, whatever expressions they are, then creation order, then ``id``). The store
hands each row's values of that order back under hidden keys; a cursor holds them (a keyset),
and the next page is the rows that sort past them, so inserts and deletes elsewhere never shift
or repeat a page. Results that are not a store query (connector rows, written records) page by
position.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode

from .errors import PageInvalid
from .executor import KEY, Keyset
from .plan import MAX_LIMIT, Filter, Find, Plan
from .sdl import Catalog
from .selection import Fragments, fields_by_name
from .types import INT, ValueType, is_text
from .validation import ordering_types

Record = dict[str, Any]
MAX_KEY = 2**63  # store integers are 64-bit


@dataclass
class Page:
    """What one request asked for: ``size`` records after ``position`` rows (and after a keyset)."""

    size: int
    connection: bool
    position: int = 0  # rows before this page: the plan's own limit counts them
    keyset: Keyset | None = None  # set when the store pages the result step by its order
    key_types: tuple[ValueType, ...] = ()  # the type of each keyset value, in order
    signature: str = ""  # the field and ordering a cursor belongs to
    has_next: bool = False
    has_previous: bool = False


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
    return plan.with_result_page(limit=size + 1), page


def cut(records: list[Record], page: Page) -> list[Record]:
    """The records of the page; notes whether more were there."""
    start = page.position if page.connection and page.keyset is None else 0
    page.has_next = len(records) > start + page.size
    return records[start : start + page.size]


# -- connections --------------------------------------------------------------------------
def page_connection(
    plan: Plan, size: int, after: str | None, catalog: Catalog, field: str, sqlite: bool
) -> tuple[Plan, Page]:
    """The plan narrowed to one page of connection ``field``: ``size`` rows, past the ``after`` cursor."""
    step = plan.steps[plan.result_index]
    if not isinstance(step, Find) or plan.writes:
        # results that are not a store query (connector rows, written records) page by position
        signature = _signature(field, "position")
        position = _decode(after, signature)["n"] if after else 0
        return plan, Page(size, True, position, signature=signature, has_previous=position > 0)
    order = plan.tree[plan.result_index].order
    signature = _signature(field, step.model, repr([o.content() for o in order]))
    types = (*ordering_types(catalog, plan), INT, ValueType("ID", step.model))  # then $created, then id
    page = Page(size, True, keyset=Keyset(), key_types=types, signature=signature)
    changes: dict[str, Any] = {"limit": size + 1}
    if after:
        cursor = _decode(after, signature)
        page.keyset = Keyset(_checked(cursor.get("v"), types, catalog, sqlite))
        page.position, page.has_previous = cursor["n"], True
        changes["offset"] = None  # the plan's offset placed the first page; the cursor places the rest
    if step.limit is not None and step.limit - page.position <= size:
        changes["limit"] = max(step.limit - page.position, 0)  # the plan's own limit ends the pages here
    return plan.with_result_page(**changes), page


def connection(records: list[Record], page: Page) -> dict[str, Any]:
    """The Relay connection object: edges with cursors, and pageInfo (hidden keys removed)."""
    rows = cut(records, page)
    edges = []
    for i, r in enumerate(rows):
        payload: dict[str, Any] = {"s": page.signature, "n": page.position + i + 1}
        if page.keyset is not None:
            payload["v"] = [_plain(r.pop(f"{KEY}{k}"), t) for k, t in enumerate(page.key_types)]
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


def _plain(value: Any, t: ValueType) -> Any:
    """A key value as the cursor holds it: a Boolean is true/false whatever the store returned."""
    return bool(value) if t.name == "Boolean" and isinstance(value, int) else value


def _checked(values: Any, types: tuple[ValueType, ...], catalog: Catalog, sqlite: bool) -> tuple[Any, ...]:
    """A cursor's key values, each of its key's type, or PAGE_INVALID: forged values never reach SQL."""
    if not isinstance(values, list) or len(values) != len(types):
        raise _forged()
    for value, t in zip(values, types, strict=True):
        if value is None:
            continue
        if isinstance(value, bool):
            ok = t.name in ("Boolean", "Any")
        elif isinstance(value, (int, float)):
            ok = t.name in ("Int", "Float", "Any") and not math.isnan(value) and -MAX_KEY <= value < MAX_KEY
        elif isinstance(value, str):
            ok = (is_text(catalog, t) or t.name == "Any") and _storable(value, sqlite)
        else:
            ok = False
        if not ok:
            raise _forged()
    return tuple(values)


def _storable(text: str, sqlite: bool) -> bool:
    """Text the store can compare: valid Unicode, and no NUL character on PostgreSQL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return sqlite or "\x00" not in text


def _forged() -> PageInvalid:
    return PageInvalid("`after` is not a cursor this gateway handed out; start again without it", argument="after")


def _signature(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: Any, signature: str) -> dict[str, Any]:
    try:
        text = str(cursor)
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (ValueError, UnicodeError, RecursionError) as e:
        raise _forged() from e
    if not isinstance(data, dict):
        raise _forged()
    position = data.get("n")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= MAX_LIMIT:
        raise _forged()
    if data.get("s") != signature:
        raise PageInvalid("`after` is a cursor of another field or ordering; start again without it", argument="after")
    return data
