"""Random filters and expressions on the store agree with a plain-Python oracle over the seed.

The oracle below knows nothing of the gateway's validator or SQL compiler: it evaluates the
same filter on the seed's dictionaries. Every random plan runs on SQLite and PostgreSQL
through the public execution path, and both must return exactly the oracle's records.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TRACKER_SEED, make_gateway
from gateway import import_records
from gateway.plan import parse_plan  # internal: plans are built here as a model would answer them

TASKS = TRACKER_SEED["Task"]
TEXT = ("title",)
NUMBER = ("estimate",)
ENUMS = {"status": ["TODO", "IN_PROGRESS", "DONE"], "priority": ["LOW", "MEDIUM", "HIGH"]}

words = st.sampled_from(["fix", "Login", "docs", "push", "x", "o"])
numbers = st.sampled_from([0, 1, 2.5, 3, 5, 7])


def field_tests() -> st.SearchStrategy[dict[str, Any]]:
    text = st.builds(
        lambda f, op, w: {f: {op: w}}, st.sampled_from(TEXT), st.sampled_from(["contains", "startsWith"]), words
    )
    number = st.builds(
        lambda f, op, n: {f: {op: n}},
        st.sampled_from(NUMBER),
        st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
        numbers,
    )
    enum = st.sampled_from(list(ENUMS)).flatmap(
        lambda f: st.builds(lambda op, v: {f: {op: v}}, st.sampled_from(["eq", "ne"]), st.sampled_from(ENUMS[f]))
    )
    length = st.builds(
        lambda op, n: {"compare": {"left": {"fn": "length", "args": [{"field": "title"}]}, "op": op, "right": n}},
        st.sampled_from(["lt", "gt", "eq"]),
        st.integers(0, 20),
    )
    null = st.builds(lambda f, b: {f: {"isNull": b}}, st.sampled_from(["priority", "dueDate"]), st.booleans())
    return st.one_of(text, number, enum, length, null)


filters = st.recursive(
    field_tests(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


def oracle(task: dict[str, Any], where: dict[str, Any]) -> bool:
    """The meaning of a filter, written directly over a seed record."""
    for key, cond in where.items():
        if key == "and":
            ok = all(oracle(task, c) for c in cond)
        elif key == "or":
            ok = any(oracle(task, c) for c in cond)
        elif key == "not":
            ok = not oracle(task, cond)
        elif key == "compare":
            left = len(task["title"])
            ok = {"lt": left < cond["right"], "gt": left > cond["right"], "eq": left == cond["right"]}[cond["op"]]
        else:
            ((op, arg),) = cond.items()
            value = task.get(key)
            if op == "isNull":
                ok = (value is None) == arg
            elif op == "eq":
                ok = value == arg
            elif op == "ne":
                ok = value != arg
            elif value is None:
                ok = False
            elif op == "contains":
                ok = arg.lower() in value.lower()
            elif op == "startsWith":
                ok = value.lower().startswith(arg.lower())
            else:
                ok = {"lt": value < arg, "lte": value <= arg, "gt": value > arg, "gte": value >= arg}[op]
        if not ok:
            return False
    return True


def test_random_filters_match_the_oracle_on_every_store(db_url: str) -> None:
    gw = make_gateway(db_url)
    import_records(gw.executor, TRACKER_SEED)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(filters)
    def check(where: dict[str, Any]) -> None:
        plan = parse_plan({"steps": [{"op": "find", "model": "Task", "where": where}], "result": 0})
        found = sorted(r["id"] for r in gw.executor.run(plan))
        assert found == sorted(t["id"] for t in TASKS if oracle(t, where)), where

    try:
        check()
    finally:
        gw.close()
