"""The SQL compiler on its own: filters, expressions and orderings compiled and run as statements.

Each case is compiled by ``SqlCompiler`` into one ``SELECT`` on a real SQLite file and a real
PostgreSQL database, and the rows it gives must be what a plain-Python oracle over the seed
says. The oracle is written out per case from the meaning of the plan language; it knows
nothing of the compiler, the validator or the executor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import make_gateway
from gateway import Gateway, import_records
from gateway.plan import parse_plan  # internal: the parts are parsed as a model's plan would be
from gateway.sql import Context, SqlCompiler  # internal: the stage under test

SDL = """
enum Level { LOW HIGH }
type Author { id: ID! name: String! books: [Book!]! }
type Book {
  id: ID!
  title: String!
  pages: Int
  price: Float
  level: Level
  published: String
  tags: [String!]
  author: Author
}
type Query { books(q: String): [Book!]! authors(q: String): [Author!]! }
"""

AUTHORS = [
    {"id": "a1", "name": "Ada Lovelace"},
    {"id": "a2", "name": "alan turing"},
    {"id": "a3", "name": "Grace"},
]
BOOKS = [
    {
        "id": "b1",
        "title": "The Engine",
        "pages": 120,
        "price": 12.5,
        "level": "LOW",
        "published": "2021-03-15",
        "tags": ["math", "history"],
        "author": "a1",
    },
    {"id": "b2", "title": "  Spaces  ", "tags": []},
    {
        "id": "b3",
        "title": "50% off_sale",
        "pages": 7,
        "price": 2.25,
        "level": "HIGH",
        "published": "2019-12-31",
        "tags": ["sale"],
        "author": "a2",
    },
    {
        "id": "b4",
        "title": "computing machinery",
        "pages": 300,
        "price": 30.0,
        "level": "HIGH",
        "published": "1950-10-01",
        "tags": ["math"],
        "author": "a2",
    },
    {"id": "b5", "title": "Notes", "pages": 0, "price": 0.5, "level": "LOW", "published": "2024-02-29", "author": "a1"},
]
NOW, TODAY = "2026-05-04T10:00:00+00:00", "2026-05-04"
STEP_VALUES = {"titles": ["Notes", "The Engine", "missing"], "pages": 7}


def book(b: dict[str, Any], name: str) -> Any:
    return b.get(name)


def author_of(b: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in AUTHORS if a["id"] == b.get("author")), None)


def books_of(a: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in BOOKS if b.get("author") == a["id"]]


def nulls(fn: Callable[..., Any]) -> Callable[..., Any]:
    """SQL's rule for plain functions: a null argument gives null."""
    return lambda *args: None if any(a is None for a in args) else fn(*args)


def sum_or_null(xs: list[Any]) -> Any:
    """SQL's SUM: null over no values, nulls skipped."""
    present = [x for x in xs if x is not None]
    return sum(present) if present else None


def half_up(x: float) -> int:
    return int(Decimal(str(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Gateway]:
    schema = tmp_path / "schema.graphql"
    schema.write_text(SDL)
    gw = make_gateway(db_url, schema=schema)
    import_records(gw.executor, {"Author": AUTHORS, "Book": BOOKS})
    yield gw
    gw.close()


def compiler(gw: Gateway) -> SqlCompiler:
    def step_values(ref: Any, many: bool) -> Any:
        value = STEP_VALUES[ref.field]
        return value if many else (value[0] if isinstance(value, list) else value)

    return SqlCompiler(gw.catalog, gw.tables, gw.executor.sqlite, Context(step_values, now=NOW, today=TODAY))


def tree(model: str, **step: Any) -> Any:
    """The parsed parts (where, orderBy) of one find step."""
    return parse_plan({"steps": [{"op": "find", "model": model, **step}], "result": 0}).tree[0]


def plain(value: Any) -> Any:
    """Store values as Python: numbers from Decimal, SQLite's 0/1 truth values kept as numbers."""
    return float(value) if isinstance(value, Decimal) else value


# -- filters -----------------------------------------------------------------------------
FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"pages": {"eq": 7}}, lambda b: b.get("pages") == 7),
    # ne keeps the rows where the field is null: "not 7" includes "no value"
    ({"pages": {"ne": 7}}, lambda b: b.get("pages") != 7),
    ({"pages": {"eq": None}}, lambda b: b.get("pages") is None),
    ({"pages": {"ne": None}}, lambda b: b.get("pages") is not None),
    ({"pages": {"lt": 100}}, lambda b: b.get("pages") is not None and b["pages"] < 100),
    ({"price": {"gte": 12.5}}, lambda b: b.get("price") is not None and b["price"] >= 12.5),
    ({"title": {"gt": "N"}}, lambda b: b["title"] > "N"),
    # contains and startsWith ignore case and take % and _ literally
    ({"title": {"contains": "ENGINE"}}, lambda b: "engine" in b["title"].lower()),
    ({"title": {"contains": "%"}}, lambda b: "%" in b["title"]),
    ({"title": {"contains": "f_s"}}, lambda b: "f_s" in b["title"]),
    ({"title": {"startsWith": "comp"}}, lambda b: b["title"].lower().startswith("comp")),
    ({"title": {"startsWith": "_"}}, lambda b: b["title"].startswith("_")),
    ({"level": {"in": ["HIGH"]}}, lambda b: b.get("level") == "HIGH"),
    ({"pages": {"in": []}}, lambda b: False),
    ({"level": {"isNull": True}}, lambda b: b.get("level") is None),
    ({"tags": {"contains": "math"}}, lambda b: "math" in (b.get("tags") or [])),
    ({"tags": {"isNull": True}}, lambda b: b.get("tags") is None),
    ({"author": {"name": {"startsWith": "a"}}}, lambda b: (author_of(b) or {}).get("name", "").lower().startswith("a")),
    ({"author": {"isNull": True}}, lambda b: b.get("author") is None),
    ({"author": {"id": {"eq": "a2"}}}, lambda b: b.get("author") == "a2"),
    (
        {"or": [{"pages": {"gt": 200}}, {"not": {"level": {"eq": "HIGH"}}}]},
        lambda b: (b.get("pages") or 0) > 200 or b.get("level") != "HIGH",
    ),
    ({"and": []}, lambda b: True),
    ({"or": []}, lambda b: False),
    (
        {"compare": {"left": {"fn": "length", "args": [{"field": "title"}]}, "op": "gt", "right": {"field": "pages"}}},
        lambda b: b.get("pages") is not None and len(b["title"]) > b["pages"],
    ),
    (
        {"compare": {"left": {"fn": "mul", "args": [{"field": "price"}, 2]}, "op": "lte", "right": 5}},
        lambda b: b.get("price") is not None and b["price"] * 2 <= 5,
    ),
    # step values bound as parameters
    ({"title": {"in": {"$step": 0, "field": "titles"}}}, lambda b: b["title"] in STEP_VALUES["titles"]),
    ({"pages": {"gte": {"$step": 0, "field": "pages"}}}, lambda b: (b.get("pages") or -1) >= 7),
]


def test_filters_select_exactly_the_oracles_rows(store: Gateway) -> None:
    c = compiler(store)
    model, table = store.catalog.model("Book"), store.tables.table("Book")
    with store.engine.connect() as conn:
        for where, oracle in FILTERS:
            stmt = select(table.c.id).where(c.where(tree("Book", where=where).where, model))
            found = sorted(conn.execute(stmt).scalars())
            assert found == sorted(b["id"] for b in BOOKS if oracle(b)), where


AUTHOR_FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"books": {"title": {"contains": "e"}}}, lambda a: any("e" in b["title"].lower() for b in books_of(a))),
    ({"books": {"isNull": True}}, lambda a: not books_of(a)),
    ({"books": {"isNull": False}}, lambda a: bool(books_of(a))),
    ({"not": {"books": {"pages": {"gt": 100}}}}, lambda a: not any((b.get("pages") or 0) > 100 for b in books_of(a))),
]


def test_filters_through_list_references_select_the_oracles_rows(store: Gateway) -> None:
    c = compiler(store)
    model, table = store.catalog.model("Author"), store.tables.table("Author")
    with store.engine.connect() as conn:
        for where, oracle in AUTHOR_FILTERS:
            stmt = select(table.c.id).where(c.where(tree("Author", where=where).where, model))
            assert sorted(conn.execute(stmt).scalars()) == sorted(a["id"] for a in AUTHORS if oracle(a)), where


# -- expressions -------------------------------------------------------------------------
def f(name: str, *args: Any) -> dict[str, Any]:
    return {"fn": name, "args": list(args)}


TITLE, PAGES, PRICE, PUBLISHED, TAGS = ({"field": n} for n in ("title", "pages", "price", "published", "tags"))

EXPRESSIONS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], Any]]] = [
    (f("concat", TITLE, "/", PAGES), lambda b: nulls(lambda t, p: f"{t}/{p}")(b["title"], b.get("pages"))),
    (f("lower", TITLE), lambda b: b["title"].lower()),
    (f("upper", TITLE), lambda b: b["title"].upper()),
    (f("trim", TITLE), lambda b: b["title"].strip(" ")),
    (f("length", TITLE), lambda b: len(b["title"])),
    (f("substring", TITLE, 1, 3), lambda b: b["title"][1:4]),  # counts from 0
    (f("replace", TITLE, "e", "3"), lambda b: b["title"].replace("e", "3")),
    (f("lpad", f("toString", PAGES), 4, "0"), lambda b: nulls(lambda p: str(p).rjust(4, "0"))(b.get("pages"))),
    (f("rpad", TITLE, 6, "."), lambda b: b["title"] if len(b["title"]) >= 6 else b["title"].ljust(6, ".")),
    (f("toString", PAGES), lambda b: nulls(str)(b.get("pages"))),
    (f("add", PAGES, 1, 2), lambda b: nulls(lambda p: p + 3)(b.get("pages"))),
    (f("sub", PAGES, PRICE), lambda b: nulls(lambda p, q: p - q)(b.get("pages"), b.get("price"))),
    (f("mul", PRICE, 4), lambda b: nulls(lambda q: q * 4)(b.get("price"))),
    # a zero divisor in a row stops the statement: tests/test_expressions.py
    (f("div", PAGES, PRICE), lambda b: nulls(lambda p, q: p / q)(b.get("pages"), b.get("price"))),
    (f("mod", PAGES, 7), lambda b: nulls(lambda p: p % 7)(b.get("pages"))),
    (f("neg", PAGES), lambda b: nulls(lambda p: -p)(b.get("pages"))),
    (f("abs", f("neg", PRICE)), lambda b: nulls(abs)(b.get("price"))),
    (f("round", PRICE), lambda b: nulls(half_up)(b.get("price"))),
    (f("year", PUBLISHED), lambda b: nulls(lambda d: int(d[:4]))(b.get("published"))),
    (f("month", PUBLISHED), lambda b: nulls(lambda d: int(d[5:7]))(b.get("published"))),
    (f("day", PUBLISHED), lambda b: nulls(lambda d: int(d[8:10]))(b.get("published"))),
    (
        f("addDays", PUBLISHED, 1),
        lambda b: {"2021-03-15": "2021-03-16", "2019-12-31": "2020-01-01", "1950-10-01": "1950-10-02"}.get(
            b.get("published") or "", "2024-03-01" if b.get("published") else None
        ),
    ),
    (f("size", TAGS), lambda b: nulls(len)(b.get("tags"))),
    (f("coalesce", PAGES, -1), lambda b: b["pages"] if b.get("pages") is not None else -1),
    (f("now"), lambda b: NOW),
    (f("today"), lambda b: TODAY),
    (
        {"if": {"level": {"eq": "HIGH"}}, "then": "big", "else": "small"},
        lambda b: "big" if b.get("level") == "HIGH" else "small",
    ),
    ({"field": "author.name"}, lambda b: (author_of(b) or {}).get("name")),
    ({"$step": 0, "field": "pages"}, lambda b: 7),
]


def same(found: Any, expected: Any) -> bool:
    found = plain(found)
    if isinstance(expected, float) or isinstance(found, float):
        return found is not None and expected is not None and math.isclose(found, expected, rel_tol=1e-9)
    return bool(found == expected) and type(found) is type(expected)


def values(gw: Gateway, model_name: str, expr: Any) -> dict[str, Any]:
    c = compiler(gw)
    model, table = gw.catalog.model(model_name), gw.tables.table(model_name)
    node = tree(model_name, orderBy=[{"expr": expr, "direction": "asc"}]).order[0].expr
    with gw.engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(select(table.c.id, c.expr(node, model)))}


def test_expressions_compute_the_oracles_values(store: Gateway) -> None:
    for expr, oracle in EXPRESSIONS:
        found = values(store, "Book", expr)
        for b in BOOKS:
            assert same(found[b["id"]], oracle(b)), (expr, b["id"], found[b["id"]], oracle(b))


def test_has_is_true_or_false_on_both_stores(store: Gateway) -> None:
    found = values(store, "Book", f("has", TAGS, "math"))
    for b in BOOKS:
        got = found[b["id"]]
        assert got is not None and bool(got) == ("math" in (b.get("tags") or [])), (b["id"], got)


AUTHOR_EXPRESSIONS: list[tuple[dict[str, Any], Callable[[list[dict[str, Any]]], Any]]] = [
    (f("count", {"field": "books"}), len),
    (f("sum", {"field": "books.pages"}), lambda bs: sum_or_null([b.get("pages") for b in bs])),
    (f("avg", {"field": "books.price"}), lambda bs: sum(b["price"] for b in bs) / len(bs) if bs else None),
    (f("min", {"field": "books.title"}), lambda bs: min((b["title"] for b in bs), default=None)),
    (f("max", {"field": "books.pages"}), lambda bs: max((b["pages"] for b in bs), default=None)),
]


def test_aggregates_over_list_references_compute_the_oracles_values(store: Gateway) -> None:
    for expr, oracle in AUTHOR_EXPRESSIONS:
        found = values(store, "Author", expr)
        for a in AUTHORS:
            expected = oracle(books_of(a))
            assert same(found[a["id"]], expected), (expr, a["id"], found[a["id"]], expected)


# -- orderings ---------------------------------------------------------------------------
def python_order(rows: list[dict[str, Any]], keys: list[tuple[Callable[[dict[str, Any]], Any], bool]]) -> list[str]:
    """Sort by each key in turn, nulls last whichever the direction, then by id."""
    out = sorted(rows, key=lambda r: r["id"])
    for key, descending in reversed(keys):
        present = sorted((r for r in out if key(r) is not None), key=key, reverse=descending)
        out = present + [r for r in out if key(r) is None]
    return [r["id"] for r in out]


ORDERINGS: list[tuple[list[dict[str, Any]], list[tuple[Callable[[dict[str, Any]], Any], bool]]]] = [
    ([{"field": "pages", "direction": "desc"}], [(lambda b: b.get("pages"), True)]),
    ([{"field": "pages", "direction": "asc"}], [(lambda b: b.get("pages"), False)]),
    (
        [{"field": "level", "direction": "asc"}, {"field": "price", "direction": "desc"}],
        [(lambda b: b.get("level"), False), (lambda b: b.get("price"), True)],
    ),
    ([{"field": "author.name", "direction": "asc"}], [(lambda b: (author_of(b) or {}).get("name"), False)]),
    (
        [{"expr": f("length", TITLE), "direction": "desc"}],
        [(lambda b: len(b["title"]), True)],
    ),
]


def test_orderings_sort_as_the_oracle_with_nulls_last(store: Gateway) -> None:
    c = compiler(store)
    model, table = store.catalog.model("Book"), store.tables.table("Book")
    with store.engine.connect() as conn:
        for order_by, keys in ORDERINGS:
            order = c.order(tree("Book", orderBy=order_by).order, model)
            found = list(conn.execute(select(table.c.id).order_by(*order, table.c.id)).scalars())
            assert found == python_order(BOOKS, keys), order_by
