"""Misconfiguration fails closed at start-up, and SDLs with references both ways start on every store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect

from conftest import DEMO_SCHEMA, LiveServer, make_gateway
from gateway import ConfigInvalid, import_records

BAD_SPECS = [":admin", ",", " , ", "k1:admin,", "k1:admin,,k2:viewer", "k1", "k 1:admin", "k1:ad min",
             "k1:admin,k1:viewer", ":"]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_a_malformed_key_list_is_a_start_up_error(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        make_gateway(f"sqlite:///{tmp_path / 's.db'}", api_keys=spec)
    assert "k1" not in info.value.message or "k1:" not in spec  # keys are secrets: never echoed


@pytest.mark.parametrize("content", ["{}", "[]", '{"k1": "admin"}', '{"k1": [1]}', '{"": ["admin"]}', "{not json",
                                     '{"k1": ["admin"], "k2": null}'])
def test_a_malformed_keys_file_is_a_start_up_error(tmp_path: Path, content: str) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(content)
    with pytest.raises(ConfigInvalid):
        make_gateway(f"sqlite:///{tmp_path / 's.db'}", api_keys_file=str(keys))


def test_a_missing_keys_file_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid):
        make_gateway(f"sqlite:///{tmp_path / 's.db'}", api_keys_file=str(tmp_path / "absent.json"))


def test_serve_refuses_to_start_on_keys_that_fail_open(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_SCHEMA": str(DEMO_SCHEMA), "GATEWAY_API_KEYS": ":admin"}
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--db", f"sqlite:///{tmp_path / 's.db'}",
                             "--port", "1"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "GATEWAY_API_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_well_formed_keys_still_work(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"k-file": ["admin"]}))
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", api_keys="k-env:viewer|editor,k-none:",
                                     api_keys_file=str(keys))).start()
    try:
        for key in ("k-env", "k-none", "k-file"):
            assert server.post("{ tags { name } }", headers={"authorization": f"Bearer {key}"}).status_code == 200
        for key in ("", ":", "admin", "k-env:viewer"):
            assert server.post("{ tags { name } }", headers={"x-api-key": key}).status_code == 401
    finally:
        server.stop()


MUTUAL = """
type Person { id: ID! name: String! team: Team mentor: Person }
type Team { id: ID! name: String! lead: Person members: [Person!]! }
type Query { people(q: String): [Person!]! teams(q: String): [Team!]! }
"""


def test_references_both_ways_start_on_every_store(tmp_path: Path, db_url: str) -> None:
    schema = tmp_path / "mutual.graphql"
    schema.write_text(MUTUAL)
    gw = make_gateway(db_url, schema=schema)
    try:
        fks = {fk["referred_table"] for fk in inspect(gw.engine).get_foreign_keys("Person")}
        assert fks == {"Team", "Person"}
        assert {fk["referred_table"] for fk in inspect(gw.engine).get_foreign_keys("Team")} == {"Person"}
        import_records(gw.executor, {"Team": [{"id": "t1", "name": "Core", "lead": "p1"}],
                                     "Person": [{"id": "p1", "name": "Ada", "team": "t1"},
                                                {"id": "p2", "name": "Linus", "team": "t1", "mentor": "p1"}]})
        server = LiveServer(gw).start()
        try:
            body = server.gql("{ teams { name lead { name team { name } } } people { name mentor { name } } }")
            assert body["data"]["teams"] == [{"name": "Core", "lead": {"name": "Ada", "team": {"name": "Core"}}}]
            assert {p["name"]: p["mentor"] for p in body["data"]["people"]} == {"Ada": None, "Linus": {"name": "Ada"}}
        finally:
            server.stop()
        again = make_gateway(db_url, schema=schema)  # a restart migrates nothing
        assert again.migrations == []
        again.close()
    finally:
        gw.close()


def test_health_needs_no_key(tmp_path: Path) -> None:
    server = LiveServer(make_gateway(f"sqlite:///{tmp_path / 's.db'}", api_keys="k1:admin")).start()
    try:
        assert httpx.get(server.url.replace("/graphql", "/healthz")).status_code == 200
    finally:
        server.stop()
