"""The policy stage on its own: what a validated plan may do on a field, no store, no HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import create_model

from gateway import PlanRefused, PolicyDenied
from gateway.connectors import Connector  # internal: connectors registered by hand, no module to import
from gateway.plan import parse_plan  # internal: plans are built here as a model would answer them
from gateway.policy import Policy, invented_strings  # internal: the stage under test
from gateway.sdl import Catalog, build_catalog  # internal: a catalogue without a store

SDL = """
enum Status { OPEN DONE }
scalar Date
type Note { id: ID! title: String! body: String status: Status due: Date day: String pages: Int }
type Receipt { ok: Boolean! }
type Query { notes(q: String): [Note!]! receipts(q: String): [Receipt!]! }
type Mutation {
  notes(q: String!): [Note!]!
  capped(q: String!): [Note!]! @maxRows(n: 3)
  bulk(q: String!): [Note!]! @allowBulk
  receipts(q: String!): [Receipt!]!
  frozen(q: String!): [Note!]! @readonly
}
"""


def _connector(name: str, side_effects: bool) -> Connector:
    return Connector(name, lambda: [], "Receipt", name, side_effects, 1.0, create_model(f"{name}_args"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    c = build_catalog(SDL)
    c.connectors = {"mail.send": _connector("mail.send", True), "mail.count": _connector("mail.count", False)}
    return c


@pytest.fixture(scope="module")
def policy(catalog: Catalog) -> Policy:
    return Policy(catalog, default_max_rows=50)


def check(policy: Policy, field: str, plan: dict[str, Any]) -> None:
    policy.check(policy.catalog.root(*field.split(".")), parse_plan(plan))


FIND = {"steps": [{"op": "find", "model": "Note"}], "result": 0}
INSERT = {"steps": [{"op": "insert", "model": "Note", "values": [{"title": "a"}]}], "result": 0}


def update(where: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "update", "model": "Note", "set": {"status": "DONE"}}
    if where is not None:
        step["where"] = where
    return {"steps": [step], "result": 0}


def test_a_refusal_is_refused_with_its_reason(policy: Policy) -> None:
    with pytest.raises(PlanRefused) as e:
        check(policy, "query.notes", {"refuse": "no field stores a mood"})
    assert e.value.extensions["reason"] == "no field stores a mood" and "nothing was changed" in e.value.message


@pytest.mark.parametrize("field", ["query.notes", "mutation.frozen"])
@pytest.mark.parametrize("plan", [INSERT, update({"title": {"eq": "a"}})])
def test_read_only_fields_never_write(policy: Policy, field: str, plan: dict[str, Any]) -> None:
    with pytest.raises(PolicyDenied) as e:
        check(policy, field, plan)
    assert e.value.extensions["reason"] == "readonly"


def test_read_only_fields_read(policy: Policy) -> None:
    check(policy, "query.notes", FIND)
    check(policy, "query.receipts", {"steps": [{"op": "call", "connector": "mail.count", "args": {}}], "result": 0})


def test_a_mutation_that_changes_nothing_is_refused_not_a_silent_success(policy: Policy) -> None:
    with pytest.raises(PlanRefused) as e:
        check(policy, "mutation.notes", FIND)
    assert e.value.extensions["reason"] == "nothing to change"
    check(policy, "mutation.notes", INSERT)
    # a side-effecting connector is a change
    check(policy, "mutation.receipts", {"steps": [{"op": "call", "connector": "mail.send", "args": {}}], "result": 0})


def test_side_effects_stay_off_queries_and_come_last(policy: Policy) -> None:
    send = {"op": "call", "connector": "mail.send", "args": {}}
    with pytest.raises(PolicyDenied) as e:
        check(policy, "query.receipts", {"steps": [send], "result": 0})
    assert e.value.extensions["reason"] == "readonly"
    with pytest.raises(PolicyDenied) as e:
        check(policy, "mutation.receipts", {"steps": [send, *INSERT["steps"]], "result": 0})
    assert e.value.extensions["reason"] == "side_effect_order"
    # a filter over the sent receipts may follow: it runs nothing
    check(policy, "mutation.receipts", {"steps": [send, {"op": "filter", "step": 0}], "result": 1})


@pytest.mark.parametrize("where", [None, {}, {"and": []}, {"and": [{"and": []}]}])
def test_an_unfiltered_update_or_delete_is_a_bulk_change(policy: Policy, where: Any) -> None:
    for plan in (update(where), {"steps": [{"op": "delete", "model": "Note", **({"where": where} if where else {})}]}):
        plan["result"] = 0
        with pytest.raises(PolicyDenied) as e:
            check(policy, "mutation.notes", plan)
        assert e.value.extensions["reason"] == "unfiltered"
        check(policy, "mutation.bulk", plan)  # @allowBulk says it may


def test_a_filtered_update_is_not_bulk_here(policy: Policy) -> None:
    check(policy, "mutation.notes", update({"status": {"eq": "OPEN"}}))  # the executor counts matched rows


def test_the_row_cap_is_the_fields_or_the_default(policy: Policy, catalog: Catalog) -> None:
    assert policy.max_rows(catalog.root("mutation", "capped")) == 3
    assert policy.max_rows(catalog.root("mutation", "notes")) == 50


def invented(catalog: Catalog, values: dict[str, Any], request: str, known: tuple[str, ...] = ()) -> list[str]:
    plan = {"steps": [{"op": "insert", "model": "Note", "values": [{"title": "x", **values}]}], "result": 0}
    return invented_strings(catalog, parse_plan(plan), request + " x", known)


def test_written_text_must_come_from_the_request(catalog: Catalog) -> None:
    assert invented(catalog, {"body": "Buy milk"}, "note: buy MILK!") == []  # case, spacing, punctuation
    found = invented(catalog, {"body": "Buy bread"}, "note: buy milk")
    assert len(found) == 1 and found[0].startswith("steps[0].values[0].body: 'Buy bread' is not in the request")


def test_matched_store_values_enums_and_numbers_are_not_invented(catalog: Catalog) -> None:
    assert invented(catalog, {"body": "Quarterly report"}, "attach it to the report", known=("Quarterly report",)) == []
    assert invented(catalog, {"status": "DONE", "pages": 12}, "a finished note") == []


def test_a_date_counts_as_given_only_for_a_date_type(catalog: Catalog) -> None:
    assert invented(catalog, {"due": "2026-12-01"}, "due next monday") == []  # a custom Date scalar
    assert invented(catalog, {"day": "2026-12-01"}, "due next monday") != []  # plain text is text


def test_text_inside_expressions_counts_too(catalog: Catalog) -> None:
    plan = {
        "steps": [
            {
                "op": "update",
                "model": "Note",
                "where": {"title": {"eq": "x"}},
                "set": {"body": {"fn": "concat", "args": [{"field": "title"}, "URGENT"]}},
            }
        ],
        "result": 0,
    }
    found = invented_strings(catalog, parse_plan(plan), "append urgent to note x")
    assert found == []
    found = invented_strings(catalog, parse_plan(plan), "append a flag to note x")
    assert [p.split(":")[0] for p in found] == ["steps[0].set.body.args[1]"]


def test_one_or_two_letters_count_as_given_only_as_a_word_of_the_request(catalog: Catalog) -> None:
    """ "Translate every title into French" became concat("F-", title): an "f" is in any request."""
    assert invented(catalog, {"body": "F-"}, "translate the note into French") != []
    assert invented(catalog, {"body": "M-"}, "number them M-1, M-2 and so on") == []
    assert invented(catalog, {"body": "2. "}, "'1. ' before the first, '2. ' before the second") == []


def test_a_value_of_the_request_taken_apart_and_glued_to_stored_text_is_invented(catalog: Catalog) -> None:
    """The eval's "set the birth dates of Emma Brown, ... to 1999-02-01, ... respectively" once
    stored "emma_brown-1999-02-01": every literal a word of the request, the rest stored text."""
    glued = {"fn": "concat", "args": [{"fn": "lower", "args": [{"field": "title"}]}, "_", "1999", "-", "02", "-", "01"]}
    plan = {"steps": [{"op": "update", "model": "Note", "where": {"title": {"eq": "x"}}, "set": {"body": glued}}]}
    found = invented_strings(catalog, parse_plan({**plan, "result": 0}), "set the body of x to 1999-02-01")
    assert len(found) == 1 and found[0].startswith(
        "steps[0].set.body: pieces of one value of the request (01, 02, 1999)"
    )
    # one piece of a word before a computed number, and a value written whole, are what the request says
    numbered = {"fn": "concat", "args": ["KIT-", {"fn": "toString", "args": [{"field": "pages"}]}]}
    plan["steps"][0]["set"] = {"body": numbered}
    assert invented_strings(catalog, parse_plan({**plan, "result": 0}), "set the body of x to KIT-1, KIT-2") == []
    assert invented(catalog, {"body": "1999-02-01"}, "set the body to 1999-02-01") == []
    mail = {"fn": "concat", "args": [{"fn": "lower", "args": [{"field": "title"}]}, "@sample.net"]}
    plan["steps"][0]["set"] = {"body": mail}
    assert invented_strings(catalog, parse_plan({**plan, "result": 0}), "the body is x's title at sample.net") == []


def test_a_change_picks_records_by_id_only_when_the_request_gives_the_id(catalog: Catalog) -> None:
    """Ids are opaque: "1" is part of "1815-12-10" but names no record (a respectively-update
    once picked ids 1, 2 and 3 that were never said)."""
    plan = {
        "steps": [{"op": "update", "model": "Note", "where": {"id": {"in": ["1", "2"]}}, "set": {"pages": 3}}],
        "result": 0,
    }
    found = invented_strings(catalog, parse_plan(plan), "set the pages to 3 from 1815-12-10 on")
    assert [p.split(":")[0] for p in found] == ["steps[0].where.id.in[0]", "steps[0].where.id.in[1]"]
    assert invented_strings(catalog, parse_plan(plan), "notes 1 and 2 have 3 pages") == []


def test_reads_are_never_checked_for_invented_text(catalog: Catalog) -> None:
    plan = {"steps": [{"op": "find", "model": "Note", "where": {"body": {"eq": "Something else"}}}], "result": 0}
    assert invented_strings(catalog, parse_plan(plan), "find notes") == []
