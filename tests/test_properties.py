"""Property-based tests: random plans never reach the store unvalidated, random documents never crash."""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from conftest import TRACKER_SEED, LiveServer, make_gateway
from gateway import PlanInvalid, ScriptedProvider, import_records
from gateway.plan import parse_plan  # internal: a unit of the plan stage
from gateway.validation import validate_plan  # internal: a unit of the validation stage

# CI replays the same 200 examples every run (a red build must be reproducible); run
# `HYPOTHESIS_PROFILE=explore python -m pytest tests/test_properties.py` to search further.
settings.register_profile("ci", max_examples=200, derandomize=True)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MODELS = ["Task", "Project", "Person", "Tag", "Ghost"]
FIELDS = ["id", "title", "name", "status", "priority", "estimate", "project", "tags", "tasks", "assignee",
          "bogus", "archived"]
OPS = ["find", "insert", "update", "delete", "aggregate", "drop"]
FILTER_OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startsWith", "isNull", "like"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**33), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["TODO", "DONE", "HIGH", "Website", "t1", "p1", ""]), st.text(max_size=5))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.fixed_dictionaries({"$step": st.integers(-1, 3), "field": st.sampled_from(FIELDS)}),
), max_leaves=4)
conditions = st.dictionaries(st.sampled_from(FILTER_OPS), values, min_size=1, max_size=2)
wheres = st.recursive(
    st.dictionaries(st.sampled_from(FIELDS), conditions, max_size=2),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"and": st.lists(inner, max_size=2)}),
        st.fixed_dictionaries({"not": inner}),
        st.dictionaries(st.sampled_from(["project", "tags", "assignee"]), inner, min_size=1, max_size=1),
    ), max_leaves=4)
records = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)
steps = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS), "model": st.sampled_from(MODELS)},
    optional={"where": wheres, "values": st.lists(records, max_size=2), "set": records,
              "limit": st.integers(-1, 5),
              "aggregates": st.lists(st.fixed_dictionaries({"fn": st.sampled_from(["count", "sum", "avg", "max"]),
                                                            "field": st.sampled_from(FIELDS + [None]),
                                                            "as": st.sampled_from(["n", "total"])}), max_size=2),
              "groupBy": st.lists(st.sampled_from(FIELDS), max_size=1)})
plans = st.fixed_dictionaries({"steps": st.lists(steps, min_size=0, max_size=3)},
                              optional={"result": st.integers(-1, 3), "params": st.just({})})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ScriptedProvider, list[str]]]:
    db = tmp_path_factory.mktemp("props") / "store.db"
    model = ScriptedProvider([])
    # grounding off: its reads of the value index come before any plan (tests/test_grounding.py)
    gw = make_gateway(f"sqlite:///{db}", provider=model, repairs=0, grounding_probes=0)
    import_records(gw.executor, TRACKER_SEED)
    statements: list[str] = []
    event.listen(gw.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    server = LiveServer(gw).start()
    yield server, model, statements
    server.stop()


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, mutation=st.booleans())
def test_random_plans_never_reach_the_store_unvalidated(live, plan: dict[str, Any], mutation: bool) -> None:
    server, model, statements = live
    catalog = server.gateway.catalog
    root = catalog.root("mutation" if mutation else "query", "tasks")
    try:
        validate_plan(catalog, parse_plan(plan), root)
        valid = True
    except PlanInvalid:
        valid = False
    model.push(plan)
    statements.clear()
    op = "mutation" if mutation else "query"
    resp = server.post(f'{op} {{ tasks(q: "anything") {{ id title }} }}')
    assert resp.status_code == 200
    body = resp.json()
    if not valid:
        assert body["errors"][0]["extensions"]["code"] == "PLAN_INVALID"
        assert statements == []  # nothing reached the store
    else:
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert set(codes) <= {"PLAN_FAILED", "PLAN_REFUSED", "POLICY_DENIED", "STORE_ERROR"}, body


def test_validation_errors_name_the_problem() -> None:
    from conftest import DEMO_SCHEMA
    from gateway.sdl import load_sdl  # internal: a unit of the SDL stage

    catalog = load_sdl(DEMO_SCHEMA)
    with pytest.raises(PlanInvalid) as e:
        validate_plan(catalog, parse_plan({"steps": [{"op": "find", "model": "Task",
                                                      "where": {"colour": {"eq": "red"}}}]}))
    assert "Task has no field 'colour'" in e.value.message


graphql_tokens = st.sampled_from(["{", "}", "(", ")", "query", "mutation", "tasks", "title", "q:", '"x"', "$v",
                                  "...", "fragment", "on", "Task", "@skip", "1", ":", "__schema", "[", "]", "!"])
documents = st.one_of(st.text(max_size=60), st.lists(graphql_tokens, max_size=25).map(" ".join))


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents, variables=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), scalars, max_size=2),
                                          st.text(max_size=5)),
       as_get=st.booleans())
def test_random_documents_never_crash_the_server(live, doc: str, variables: Any, as_get: bool) -> None:
    server, _, _ = live
    if as_get:
        params = {"query": doc}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        resp = httpx.get(server.url, params=params, headers={"accept": "application/graphql-response+json"})
    else:
        resp = httpx.post(server.url, json={"query": doc, "variables": variables},
                          headers={"accept": "application/graphql-response+json"})
    assert resp.status_code in (200, 400, 405), resp.text
    body = resp.json()
    assert "errors" in body or "data" in body
