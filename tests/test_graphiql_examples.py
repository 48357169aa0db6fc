"""GraphiQL opens on example operations written from the served SDL: a listing, a read and a change in words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from conftest import DEMO_SCHEMA, ROOT, LiveServer, make_gateway
from gateway.graphiql import example_operations  # internal: the examples GraphiQL opens on, checked directly
from gateway.sdl import load_sdl  # internal: the SDL's catalog the examples are written from

SCHEMAS = [DEMO_SCHEMA, ROOT / "examples" / "internal_tool" / "schema.graphql"]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.parent.name)
def test_examples_are_valid_operations_on_the_schema(path: Path) -> None:
    catalog = load_sdl(path)
    text = example_operations(catalog)
    document = parse(text)
    assert validate(catalog.schema, document) == []
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    kinds = [
        (op.operation.value, "q" in {a.name.value for a in op.selection_set.selections[0].arguments or ()})
        for op in ops
    ]
    assert kinds[:2] == [("query", False), ("query", True)]
    if catalog.schema.mutation_type is not None:
        assert kinds[2] == ("mutation", True)


def test_a_schema_without_stored_types_gets_the_hint(tmp_path: Path) -> None:
    sdl = tmp_path / "schema.graphql"
    sdl.write_text("type Answer { text: String }\ntype Query { answer(q: String): Answer }\n", encoding="utf-8")
    assert example_operations(load_sdl(sdl)).startswith("# Every root field takes q")


def test_the_browser_page_carries_the_examples_and_the_listing_runs(tmp_path: Path) -> None:
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}")).start()
    try:
        page = httpx.get(server.url, headers={"accept": "text/html"})
        literal = re.search(r"defaultQuery: (\".*?(?<!\\)\"),", page.text)
        assert literal is not None, page.text
        default = json.loads(literal.group(1))
        assert default == example_operations(server.gateway.catalog)
        ran = httpx.post(server.url, json={"query": default, "operationName": "ListTasks"}).json()
        assert ran["data"] == {"tasks": []} and ran["extensions"]["fields"]["tasks"]["source"] == "listing"
    finally:
        server.stop()
