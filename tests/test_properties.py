"""Property-based tests: random plans are run or refused as an independent model of the contract
says, and random documents never crash the server.

The plans are random but their validity is known by construction, not asked of the validator:
valid plans are built from a plain-Python model of the demo contract (``CONTRACT``: each
model's fields, their types, which are required, the enums' values), and invalid ones are a
valid plan broken by one known mutation (an unknown model, a field the model lacks, a value of
the wrong type, an enum value that does not exist, a required field left out, a step
reference to a step that has not run, a result step of the wrong kind...). A broken plan must
be refused as ``PLAN_INVALID`` before a single SQL statement reaches the store. A valid plan
must never be ``PLAN_INVALID``: the model's policy rules decide it (a Query field that writes
is denied, a mutation that only reads is refused, an update or delete without a filter is
denied) or it runs, and whatever is refused or fails leaves the store byte-identical.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from conftest import TRACKER_SEED, LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

# CI replays the same examples every run (a red build must be reproducible); run
# `HYPOTHESIS_PROFILE=explore python -m pytest tests/test_properties.py` to search further.
settings.register_profile("ci", max_examples=200, derandomize=True)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- the demo contract (schema.graphql), written down by hand ------------------------------
@dataclass(frozen=True)
class F:
    """A field as the contract declares it: its type, whether it is a reference, whether required."""

    type: str  # String, Float, Boolean, an enum's name, or the model a reference points at
    kind: str = "scalar"  # scalar | enum | ref (one record) | refs (a list of records)
    required: bool = False


ENUMS = {"Status": ["TODO", "IN_PROGRESS", "DONE"], "Priority": ["LOW", "MEDIUM", "HIGH"]}
CONTRACT: dict[str, dict[str, F]] = {
    "Task": {
        "title": F("String", required=True),
        "description": F("String"),
        "status": F("Status", "enum", required=True),
        "priority": F("Priority", "enum"),
        "estimate": F("Float"),
        "dueDate": F("String"),
        "project": F("Project", "ref"),
        "assignee": F("Person", "ref"),
        "tags": F("Tag", "refs"),
    },
    "Project": {
        "name": F("String", required=True),
        "description": F("String"),
        "archived": F("Boolean"),
        "tasks": F("Task", "refs"),
    },
    "Person": {
        "name": F("String", required=True),
        "email": F("String"),
        "role": F("String"),
        "tasks": F("Task", "refs"),
    },
    "Tag": {"name": F("String", required=True), "tasks": F("Task", "refs")},
}
MODELS = list(CONTRACT)
TEXT = {"Task": "title", "Project": "name", "Person": "name", "Tag": "name"}  # each model's required text field
SEED_IDS = {model: [r["id"] for r in records] for model, records in TRACKER_SEED.items()}

# A plan may filter by and write only text the request gives (the rule against invented and
# copied values), so every word a plan uses is in the request.
WORDS = ["Website", "urgent", "login", "docs", "Ada", "mobile"]
REQUEST = " ".join(
    ["please", *WORDS, *(v for vs in ENUMS.values() for v in vs), *(i for ids in SEED_IDS.values() for i in ids)]
)

# The root fields played: (operation, field, the model its records come from; None: a number)
Root = tuple[str, str, str | None]
ROOTS: list[Root] = [("query", "tasks", "Task"), ("mutation", "tasks", "Task"), ("query", "taskCount", None)]
WRITES = ("insert", "update", "delete")
WHERE_OPS = ("find", "update", "delete", "aggregate")


# -- valid plans, built from the contract ---------------------------------------------------
def field_tests(model: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """One condition on one field, with an operator and a value the field's type takes."""
    options = [st.builds(lambda i: {"id": {"eq": i}}, st.sampled_from(SEED_IDS[model]))]
    for name, f in CONTRACT[model].items():
        if f.kind == "scalar" and f.type == "String":
            options.append(
                st.builds(
                    lambda op, w, name=name: {name: {op: w}},
                    st.sampled_from(["eq", "ne", "contains", "startsWith"]),
                    st.sampled_from(WORDS),
                )
            )
        elif f.type == "Float":
            options.append(
                st.builds(
                    lambda op, n, name=name: {name: {op: n}},
                    st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
                    st.one_of(st.integers(0, 8), st.floats(0, 8, allow_nan=False)),
                )
            )
        elif f.type == "Boolean":
            options.append(
                st.builds(lambda op, b, name=name: {name: {op: b}}, st.sampled_from(["eq", "ne"]), st.booleans())
            )
        elif f.kind == "enum":
            values = st.sampled_from(ENUMS[f.type])
            options.append(
                st.one_of(
                    st.builds(lambda op, v, name=name: {name: {op: v}}, st.sampled_from(["eq", "ne"]), values),
                    st.builds(lambda vs, name=name: {name: {"in": vs}}, st.lists(values, min_size=1, max_size=2)),
                )
            )
        elif f.kind in ("ref", "refs") and depth < 1:
            options.append(filters(f.type, depth + 1).map(lambda w, name=name: {name: w}))
        if not f.required and f.kind != "refs":
            options.append(st.builds(lambda b, name=name: {name: {"isNull": b}}, st.booleans()))
    return st.one_of(options)


def filters(model: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        field_tests(model, depth),
        lambda inner: st.one_of(
            st.builds(lambda xs: {"and": xs}, st.lists(inner, min_size=1, max_size=2)),
            st.builds(lambda xs: {"or": xs}, st.lists(inner, min_size=1, max_size=2)),
            st.builds(lambda x: {"not": x}, inner),
        ),
        max_leaves=3,
    )


def literal_values(f: F) -> st.SearchStrategy[Any]:
    """A value the field may store."""
    if f.kind == "enum":
        values: st.SearchStrategy[Any] = st.sampled_from(ENUMS[f.type])
    elif f.kind == "ref":
        values = st.sampled_from(SEED_IDS[f.type])
    elif f.kind == "refs":
        return st.lists(st.sampled_from(SEED_IDS[f.type]), max_size=2, unique=True)
    elif f.type == "Float":
        values = st.one_of(st.integers(0, 20), st.floats(0, 20, allow_nan=False))
    elif f.type == "Boolean":
        values = st.booleans()
    else:
        values = st.sampled_from(WORDS)
    return values if f.required else st.one_of(st.none(), values)


def writable(model: str) -> dict[str, F]:
    """The fields a generated write sets: a list reference only on the side that owns it (Task.tags)."""
    return {n: f for n, f in CONTRACT[model].items() if f.kind != "refs" or (model, n) == ("Task", "tags")}


def records(model: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = writable(model)
    return st.fixed_dictionaries(
        {n: literal_values(f) for n, f in fields.items() if f.required},
        optional={n: literal_values(f) for n, f in fields.items() if not f.required},
    )


def computed(model: str) -> dict[str, st.SearchStrategy[Any]]:
    """Values an update computes from the row itself."""
    text = TEXT[model]
    out: dict[str, st.SearchStrategy[Any]] = {}
    if "description" in CONTRACT[model]:
        out["description"] = st.sampled_from(
            [
                {"field": text},
                {"fn": "upper", "args": [{"field": text}]},
                {"fn": "concat", "args": [{"field": text}, "docs"]},
            ]
        )
    if model == "Task":
        out["estimate"] = st.just({"fn": "add", "args": [{"field": "estimate"}, 1]})
    return out


@st.composite
def sets(draw: st.DrawFn, model: str) -> dict[str, Any]:
    fields = writable(model)
    options = {n: literal_values(f) for n, f in fields.items()}
    for name, strategy in computed(model).items():
        options[name] = st.one_of(options[name], strategy)
    names = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=2, unique=True))
    return {n: draw(options[n]) for n in names}


@st.composite
def steps(draw: st.DrawFn, model: str, op: str, earlier: list[dict[str, Any]]) -> dict[str, Any]:
    step: dict[str, Any] = {"op": op, "model": model}
    if op in WHERE_OPS and (op != "find" or draw(st.booleans())) and draw(st.integers(0, 4)):
        step["where"] = draw(filters(model))
    if op == "find":
        if draw(st.booleans()):
            orderable = ["$created", "id", *(n for n, f in CONTRACT[model].items() if f.kind in ("scalar", "enum"))]
            step["orderBy"] = [
                {"field": draw(st.sampled_from(orderable)), "direction": draw(st.sampled_from(["asc", "desc"]))}
            ]
        if draw(st.booleans()):
            step["limit"] = draw(st.integers(0, 5))
    elif op == "insert":
        step["values"] = draw(st.lists(records(model), min_size=1, max_size=2))
        projects = [i for i, s in enumerate(earlier) if s["model"] == "Project" and s["op"] != "aggregate"]
        if model == "Task" and projects and draw(st.booleans()):  # the project an earlier step found or made
            step["values"][0]["project"] = {"$step": draw(st.sampled_from(projects)), "field": "id"}
    elif op == "update":
        step["set"] = draw(sets(model))
    elif op == "aggregate":
        measures = [{"fn": "count", "as": "n"}]
        if model == "Task":
            measures += [{"fn": fn, "field": "estimate", "as": "n"} for fn in ("sum", "avg", "min", "max")]
        step["aggregates"] = [draw(st.sampled_from(measures))]
    return step


@st.composite
def valid_plans(draw: st.DrawFn, root: Root) -> dict[str, Any]:
    """A plan that fits the contract: its result step gives what the root field returns.

    Mostly what the field is for (a Query field reads, a Mutation field writes), sometimes the
    other, so that the policy's refusals are played too.
    """
    operation, _, returns = root
    writes = draw(st.integers(0, 3)) > 0 if operation == "mutation" else draw(st.integers(0, 3)) == 0
    ops = [*WHERE_OPS, *WRITES] if writes else ["find", "aggregate"]
    before: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 2))):
        before.append(draw(steps(draw(st.sampled_from(MODELS)), draw(st.sampled_from(ops)), before)))
    if returns is None:  # a number: a count
        result = {"op": "aggregate", "model": draw(st.sampled_from(MODELS)), "aggregates": [{"fn": "count", "as": "n"}]}
        if draw(st.booleans()):
            result["where"] = draw(filters(result["model"]))
    else:
        result = draw(steps(returns, draw(st.sampled_from(WRITES if writes else ("find",))), before))
    after = [draw(steps(draw(st.sampled_from(MODELS)), "find", before))] if draw(st.integers(0, 3)) == 0 else []
    plan: dict[str, Any] = {"steps": [*before, result, *after]}
    if after or draw(st.booleans()):  # without "result" the last step is the result
        plan["result"] = len(before)
    return plan


# -- invalid plans: a valid plan broken by one known mutation --------------------------------
Mutation = Callable[[st.DrawFn, dict[str, Any], str | None], bool]  # changes the plan; False: does not apply


def _where_steps(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in plan["steps"] if s["op"] in WHERE_OPS]


def _add_condition(draw: st.DrawFn, plan: dict[str, Any], condition: Callable[[str], dict[str, Any] | None]) -> bool:
    """And a condition into the filter of one step that filters (a step of its choosing model)."""
    candidates = [(s, c) for s in _where_steps(plan) if (c := condition(s["model"])) is not None]
    if not candidates:
        return False
    step, cond = draw(st.sampled_from(candidates))
    step["where"] = {"and": [step["where"], cond]} if "where" in step else cond
    return True


def unknown_model(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    draw(st.sampled_from(plan["steps"]))["model"] = draw(st.sampled_from(["Ghost", "Tasks", "task", ""]))
    return True


def unknown_operation(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    draw(st.sampled_from(plan["steps"]))["op"] = draw(st.sampled_from(["drop", "upsert", "select", "FIND"]))
    return True


def unknown_field_in_a_filter(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    name = draw(st.sampled_from(["colour", "owner", "Title", "createdAt"]))
    return _add_condition(draw, plan, lambda _model: {name: {"eq": "docs"}})


def unknown_field_written(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    writes = [s for s in plan["steps"] if s["op"] in ("insert", "update")]
    if not writes:
        return False
    step = draw(st.sampled_from(writes))
    (step["values"][0] if step["op"] == "insert" else step["set"])["colour"] = "docs"
    return True


def unknown_operator(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    op = draw(st.sampled_from(["like", "equals", "between", "regex"]))
    return _add_condition(draw, plan, lambda model: {TEXT[model]: {op: "docs"}})


def text_where_a_number_goes(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    if draw(st.booleans()):
        return _add_condition(draw, plan, lambda model: {"estimate": {"gt": "docs"}} if model == "Task" else None)
    tasks = [s for s in plan["steps"] if s["model"] == "Task" and s["op"] in ("insert", "update")]
    if not tasks:
        return False
    step = draw(st.sampled_from(tasks))
    (step["values"][0] if step["op"] == "insert" else step["set"])["estimate"] = "docs"
    return True


def number_where_text_goes(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    n = draw(st.one_of(st.integers(0, 9), st.booleans()))
    return _add_condition(draw, plan, lambda model: {TEXT[model]: {"eq": n}})


def enum_value_that_does_not_exist(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    value = draw(st.sampled_from(["FINISHED", "todo", "URGENT", ""]))
    if draw(st.booleans()):
        return _add_condition(draw, plan, lambda model: {"status": {"eq": value}} if model == "Task" else None)
    tasks = [s for s in plan["steps"] if s["model"] == "Task" and s["op"] in ("insert", "update")]
    if not tasks:
        return False
    step = draw(st.sampled_from(tasks))
    (step["values"][0] if step["op"] == "insert" else step["set"])["status"] = value
    return True


def required_field_left_out(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    inserts = [s for s in plan["steps"] if s["op"] == "insert"]
    if not inserts:
        return False
    step = draw(st.sampled_from(inserts))
    step["values"][0].pop(TEXT[step["model"]])
    return True


def required_field_set_to_null(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    writes = [s for s in plan["steps"] if s["op"] in ("insert", "update")]
    if not writes:
        return False
    step = draw(st.sampled_from(writes))
    (step["values"][0] if step["op"] == "insert" else step["set"])[TEXT[step["model"]]] = None
    return True


def id_changed(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    updates = [s for s in plan["steps"] if s["op"] == "update"]
    if not updates:
        return False
    draw(st.sampled_from(updates))["set"]["id"] = "t9"
    return True


def reference_to_a_step_not_yet_run(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    candidates = [i for i, s in enumerate(plan["steps"]) if s["op"] in WHERE_OPS]
    if not candidates:
        return False
    i = draw(st.sampled_from(candidates))
    later = draw(st.integers(i, len(plan["steps"]) + 1))
    step = plan["steps"][i]
    cond = {"id": {"eq": {"$step": later, "field": "id"}}}
    step["where"] = {"and": [step["where"], cond]} if "where" in step else cond
    return True


def unknown_function(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    fn = draw(st.sampled_from(["soundex", "eval", "sql", "LOWER"]))
    return _add_condition(
        draw,
        plan,
        lambda model: {"compare": {"left": {"fn": fn, "args": [{"field": TEXT[model]}]}, "op": "eq", "right": "docs"}},
    )


def result_out_of_range(draw: st.DrawFn, plan: dict[str, Any], _returns: str | None) -> bool:
    plan["result"] = draw(st.one_of(st.integers(len(plan["steps"]), len(plan["steps"]) + 3), st.just(-1)))
    return True


def result_of_the_wrong_kind(draw: st.DrawFn, plan: dict[str, Any], returns: str | None) -> bool:
    """The result step gives other records than the field returns (or records where a number is due)."""
    if returns is None:
        other: dict[str, Any] = {"op": "find", "model": draw(st.sampled_from(MODELS))}
    elif draw(st.booleans()):
        other = {"op": "find", "model": draw(st.sampled_from([m for m in MODELS if m != returns]))}
    else:
        other = {"op": "aggregate", "model": returns, "aggregates": [{"fn": "count", "as": "n"}]}
    plan["steps"].append(other)
    plan["result"] = len(plan["steps"]) - 1
    return True


# the most particular first: hypothesis' simplest examples take the first that applies
MUTATIONS: list[Mutation] = [
    enum_value_that_does_not_exist,
    required_field_left_out,
    required_field_set_to_null,
    id_changed,
    text_where_a_number_goes,
    number_where_text_goes,
    unknown_field_written,
    unknown_field_in_a_filter,
    unknown_operator,
    unknown_function,
    reference_to_a_step_not_yet_run,
    result_of_the_wrong_kind,
    result_out_of_range,
    unknown_operation,
    unknown_model,
]


@st.composite
def broken_plans(draw: st.DrawFn, root: Root) -> tuple[dict[str, Any], str]:
    """A valid plan with one mutation applied; returns the plan and the mutation's name."""
    returns = root[2]
    plan = copy.deepcopy(draw(valid_plans(root)))
    for _ in range(len(MUTATIONS)):  # one that applies to this plan (not every plan inserts, say)
        mutation = draw(st.sampled_from(MUTATIONS))
        if mutation(draw, plan, returns):
            return plan, mutation.__name__
    unknown_model(draw, plan, returns)  # applies to every plan
    return plan, unknown_model.__name__


# -- what the contract's policy says of a valid plan -----------------------------------------
def expected_refusal(operation: str, plan: dict[str, Any]) -> str | None:
    """The code a valid plan is refused with before it runs, or None when it may run."""
    ops = [s["op"] for s in plan["steps"]]
    writes = any(op in WRITES for op in ops)
    if operation == "query" and writes:
        return "POLICY_DENIED"  # a Query field only reads
    if operation == "mutation" and not writes:
        return "PLAN_REFUSED"  # a mutation that changes nothing is refused, never a silent success
    if any(s["op"] in ("update", "delete") and "where" not in s for s in plan["steps"]):
        return "POLICY_DENIED"  # an unfiltered update or delete needs @allowBulk
    return None


# -- running a plan through the gateway ------------------------------------------------------
@dataclass
class Outcome:
    body: dict[str, Any]
    statements: list[str]  # SQL that reached the store while the request ran
    store_before: str
    store_after: str

    @property
    def codes(self) -> list[str]:
        return [e["extensions"]["code"] for e in self.body.get("errors", [])]


def store_fingerprint(db: Path) -> str:
    """Bytes of the SQLite database and its write-ahead log."""
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        p = Path(f"{db}{suffix}")
        digest.update(p.read_bytes() if p.exists() else b"")
    return digest.hexdigest()


def play(operation: str, field: str, plan: dict[str, Any]) -> Outcome:
    """Answer one request with ``plan`` on a fresh store holding the tracker seed."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "store.db"
        model = ScriptedProvider([plan])
        # grounding off: its reads of the value index come before any plan (tests/test_grounding.py)
        gw = make_gateway(f"sqlite:///{db}", provider=model, repairs=0, grounding_probes=0)
        try:
            import_records(gw.executor, TRACKER_SEED)
            statements: list[str] = []
            event.listen(gw.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            before = store_fingerprint(db)
            selection = "{ id title }" if field == "tasks" else ""
            result = asyncio.run(gw.execute(f"{operation} {{ {field}(q: {json.dumps(REQUEST)}) {selection} }}"))
            return Outcome(result.formatted(), statements, before, store_fingerprint(db))
        finally:
            gw.close()


roots = st.sampled_from(ROOTS)


@settings(deadline=None)
@given(data=st.data())
def test_plans_broken_by_one_known_mutation_are_refused_before_the_store(data: st.DataObject) -> None:
    operation, field, _ = root = data.draw(roots)
    plan, mutation = data.draw(broken_plans(root))
    hypothesis.event(mutation)
    out = play(operation, field, plan)
    assert out.codes == ["PLAN_INVALID"], (mutation, plan, out.body)
    assert out.body["data"] is None, mutation
    assert out.statements == [], (mutation, out.statements)  # not one statement reached the store
    assert out.store_after == out.store_before


@settings(deadline=None)
@given(data=st.data())
def test_plans_that_fit_the_contract_run_or_are_refused_as_its_policy_says(data: st.DataObject) -> None:
    operation, field, returns = root = data.draw(roots)
    plan = data.draw(valid_plans(root))
    out = play(operation, field, plan)
    refusal = expected_refusal(operation, plan)
    hypothesis.event(f"{operation} {field}: {refusal or ','.join(out.codes) or 'ran'}")
    if refusal is not None:
        assert out.codes == [refusal], (plan, out.body)
        assert out.statements == [], out.statements
    elif operation == "query":  # a read runs, answers and changes nothing
        assert out.codes == [], (plan, out.body)
        assert isinstance(out.body["data"][field], list if returns else int)
    else:
        # a write may still fail on the data (a unique name taken, a step that found nothing,
        # a filter that matched no row, or every row) and is then refused whole
        assert set(out.codes) <= {"PLAN_FAILED", "NOTHING_CHANGED", "STORE_ERROR", "POLICY_DENIED"}, (plan, out.body)
        if not out.codes:
            return
        if "POLICY_DENIED" in out.codes:
            assert out.body["errors"][0]["extensions"].get("reason") in ("unfiltered", "max_rows"), out.body
    assert out.store_after == out.store_before, (plan, out.body)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**33),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["TODO", "DONE", "HIGH", "Website", "t1", "p1", ""]),
    st.text(max_size=5),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("props") / "store.db"
    gw = make_gateway(f"sqlite:///{db}", provider=ScriptedProvider([]), repairs=0, grounding_probes=0)
    import_records(gw.executor, TRACKER_SEED)
    server = LiveServer(gw).start()
    yield server
    server.stop()


# -- random documents over HTTP ----------------------------------------------------------------
graphql_tokens = st.sampled_from(
    [
        "{",
        "}",
        "(",
        ")",
        "query",
        "mutation",
        "tasks",
        "title",
        "q:",
        '"x"',
        "$v",
        "...",
        "fragment",
        "on",
        "Task",
        "@skip",
        "1",
        ":",
        "__schema",
        "[",
        "]",
        "!",
    ]
)
documents = st.one_of(st.text(max_size=60), st.lists(graphql_tokens, max_size=25).map(" ".join))


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=documents,
    variables=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), scalars, max_size=2), st.text(max_size=5)),
    as_get=st.booleans(),
)
def test_random_documents_never_crash_the_server(live: LiveServer, doc: str, variables: Any, as_get: bool) -> None:
    server = live
    if as_get:
        params = {"query": doc}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        resp = httpx.get(server.url, params=params, headers={"accept": "application/graphql-response+json"})
    else:
        resp = httpx.post(
            server.url,
            json={"query": doc, "variables": variables},
            headers={"accept": "application/graphql-response+json"},
        )
    assert resp.status_code in (200, 400, 405), resp.text
    body = resp.json()
    assert "errors" in body or "data" in body
