"""Schema refusals name the file they came from and the line (and column) of the offending definition."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import SchemaError
from gateway.sdl import load_sdl  # internal: the SDL stage is what is under test

ROOT = Path(__file__).resolve().parent.parent

# (SDL, line, column, words of the reason): one case per way the SDL stage refuses.
CASES = [
    pytest.param("type Query {\n  task(q: String): Task\n}\n", 2, 20, "Unknown type 'Task'", id="unknown-type"),
    pytest.param(
        "type Query {\n  a(q: String): Int @nope\n}\n", 2, 21, "Unknown directive '@nope'", id="unknown-directive"
    ),
    pytest.param("type Query {\n  a(q: String) Int\n}\n", 2, 16, "Syntax Error", id="syntax"),
    pytest.param("type Query { a(q: String): Int }\n\nunion U = Query\n", 3, 1, "unions are not supported", id="union"),
    pytest.param("type Query {\n  a(q: String): Int\n  b: Int\n}\n", 3, 3, "`q: String`", id="root-without-q"),
    pytest.param(
        "type T {\n  id: ID!\n  m: [[String]]\n}\ntype Query { t(q: String): T }\n",
        3,
        3,
        "lists of lists",
        id="list-of-lists",
    ),
    pytest.param(
        "type Query { a(q: String): Int }\ninterface I { x: Int }\ntype A implements I { id: ID! }\n",
        2,
        15,
        "A does not provide it",
        id="interface-not-implemented",
    ),
    pytest.param(
        "type T {\n  id: ID!\n  n(limit: Int): Int\n}\ntype Query { t(q: String): T }\n",
        3,
        3,
        "take no arguments",
        id="argument-on-a-stored-scalar",
    ),
    pytest.param(
        "type T {\n  id: ID!\n  ts(first: Int): [T!]!\n}\ntype Query { t(q: String): T }\n",
        3,
        3,
        "may take `limit: Int`",
        id="list-argument-other-than-limit",
    ),
]


@pytest.mark.parametrize(("sdl", "line", "column", "reason"), CASES)
def test_a_refusal_names_the_file_line_and_reason(
    tmp_path: Path, sdl: str, line: int, column: int, reason: str
) -> None:
    path = tmp_path / "contracts" / "shop.graphql"
    path.parent.mkdir()
    path.write_text(sdl, encoding="utf-8")
    with pytest.raises(SchemaError) as e:
        load_sdl(path)
    assert e.value.message.startswith(f"{path} line {line}: ")
    assert reason in e.value.message
    assert e.value.extensions == {"file": str(path), "line": line, "column": column}


def test_a_schema_without_a_location_still_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.graphql"
    path.write_text("type Foo { a: Int }\n", encoding="utf-8")
    with pytest.raises(SchemaError) as e:
        load_sdl(path)
    assert e.value.message.startswith(f"{path}: ") and "Query" in e.value.message


def test_gateway_check_prints_the_file_and_line_of_an_unknown_type(tmp_path: Path) -> None:
    bad = tmp_path / "orders.graphql"
    bad.write_text("type Query {\n  orders(q: String): [Order]\n}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "--schema", str(bad)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"{bad} line 2: Unknown type 'Order'" in result.stderr
