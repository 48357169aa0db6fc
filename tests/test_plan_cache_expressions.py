"""Cache templates of plans with expressions, over real HTTP on SQLite, PostgreSQL and Redis.

A literal the request named may sit inside an expression (a ``concat`` argument, an
``addDays`` argument, a side of a ``compare``, a ``byKey`` value): a later request that differs
only there is served from the template, with no model call, and the bound plan runs with the
new value. Literals the request did not name stay as the taught plan had them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer, make_gateway
from gateway import ScriptedProvider, import_records

CLUB = Path(__file__).resolve().parent.parent / "examples" / "climbing-club" / "schema.graphql"
REDIS_URL = "redis://127.0.0.1:6379/0"
MEMBERS = [
    {"id": "m1", "firstName": "Ada", "lastName": "Byron", "birthDate": "1815-12-10"},
    {"id": "m2", "firstName": "Alan", "lastName": "Turing", "birthDate": "1912-06-23"},
    {"id": "m3", "firstName": "Grace", "lastName": "Hopper", "birthDate": "1906-12-09"},
]
ALL = {"id": {"isNull": False}}


def find(where: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {"steps": [{"op": "find", "model": "Member", "where": where}], "result": 0, "params": params}


def update(set_: dict[str, Any], params: dict[str, Any], where: dict[str, Any] | None = None) -> dict[str, Any]:
    step = {"op": "update", "model": "Member", "where": where or ALL, "set": set_}
    return {"steps": [step], "result": 0, "params": params}


def start(db: str, model: ScriptedProvider, **settings: Any) -> LiveServer:
    gw = make_gateway(db, schema=CLUB, provider=model, plan_cache=True, **settings)
    import_records(gw.executor, {"Member": MEMBERS})
    return LiveServer(gw).start()


def ask(server: LiveServer, q: str, op: str = "query") -> dict[str, Any]:
    return server.gql(f"{op} Q($q: String!) {{ members(q: $q) {{ firstName }} }}", {"q": q})


def names(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return sorted(m["firstName"] for m in body["data"]["members"])


def source(body: dict[str, Any]) -> tuple[str, str | None]:
    trace = body["extensions"]["fields"]["members"]
    return trace["source"], trace.get("cache")


def members(server: LiveServer) -> dict[str, dict[str, Any]]:
    rows = server.gql("{ members { firstName email phone } }")["data"]["members"]
    return {m["firstName"]: m for m in rows}


READS = [
    (
        "a compare",
        "members whose first name is longer than 4 letters",
        find(
            {"compare": {"left": {"fn": "length", "args": [{"field": "firstName"}]}, "op": "gt", "right": 4}}, {"n": 4}
        ),
        ["Grace"],
        "members whose first name is longer than 3 letters",
        ["Alan", "Grace"],
    ),
    (
        "addDays inside a compare",
        "members whose birth date plus 30 days is on or after 1912-07-10",
        find(
            {
                "compare": {
                    "left": {"fn": "addDays", "args": [{"field": "birthDate"}, 30]},
                    "op": "gte",
                    "right": "1912-07-10",
                }
            },
            {"days": 30, "date": "1912-07-10"},
        ),
        ["Alan"],
        "members whose birth date plus 10 days is on or after 1906-12-15",
        ["Alan", "Grace"],
    ),
    (
        "a function's argument",
        "members whose last name in lower case is turing",
        find(
            {"compare": {"left": {"fn": "lower", "args": [{"field": "lastName"}]}, "op": "eq", "right": "turing"}},
            {"n": "turing"},
        ),
        ["Alan"],
        "members whose last name in lower case is hopper",
        ["Grace"],
    ),
]


@pytest.mark.parametrize(("case", "taught", "plan", "first", "asked", "then"), READS, ids=[r[0] for r in READS])
def test_a_read_template_binds_a_literal_inside_an_expression(
    db_url: str, case: str, taught: str, plan: dict[str, Any], first: list[str], asked: str, then: list[str]
) -> None:
    model = ScriptedProvider([plan])
    server = start(db_url, model)
    try:
        assert names(ask(server, taught)) == first
        body = ask(server, asked)
        assert names(body) == then
        assert source(body) == ("cache", "template")
        assert len(model.calls) == 1
    finally:
        server.stop()


def test_a_write_template_binds_a_concat_argument_and_keeps_the_plans_own_text(db_url: str) -> None:
    email = {"fn": "concat", "args": [{"fn": "lower", "args": [{"field": "firstName"}]}, "@", "club.org"]}
    model = ScriptedProvider([update({"email": email}, {"domain": "club.org"})])
    server = start(db_url, model)
    try:
        taught = ask(server, "set every member's email to their first name at club.org", "mutation")
        assert names(taught) == ["Ada", "Alan", "Grace"]
        assert members(server)["Ada"]["email"] == "ada@club.org"
        body = ask(server, "set every member's email to their first name at climb.net", "mutation")
        assert names(body) == ["Ada", "Alan", "Grace"] and source(body) == ("cache", "template")
        assert {n: m["email"] for n, m in members(server).items()} == {
            "Ada": "ada@climb.net",
            "Alan": "alan@climb.net",
            "Grace": "grace@climb.net",
        }
        assert len(model.calls) == 1
    finally:
        server.stop()


def test_a_write_template_binds_bykey_values(db_url: str) -> None:
    phones = {"fn": "byKey", "key": {"field": "firstName"}, "map": {"Ada": "5550101", "Grace": "5550202"}}
    plan = update({"phone": phones}, {"ada": "5550101", "grace": "5550202"}, {"firstName": {"in": ["Ada", "Grace"]}})
    model = ScriptedProvider([plan])
    server = start(db_url, model)
    try:
        assert names(ask(server, "phones: Ada 5550101, Grace 5550202", "mutation")) == ["Ada", "Grace"]
        body = ask(server, "phones: Ada 5550303, Grace 5550404", "mutation")
        assert source(body) == ("cache", "template")
        assert {n: m["phone"] for n, m in members(server).items()} == {
            "Ada": "5550303",
            "Alan": None,
            "Grace": "5550404",
        }
        assert len(model.calls) == 1
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own, deleted afterwards; skip when Redis is absent."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_redis_shares_a_template_with_expressions(db_url: str, tmp_path: Path, redis_prefix: str) -> None:
    _case, taught, plan, first, asked, then = READS[1]
    a = start(db_url, ScriptedProvider([plan]), redis_url=REDIS_URL, redis_prefix=redis_prefix)
    b = start(
        f"sqlite:///{tmp_path / 'other.db'}", ScriptedProvider([]), redis_url=REDIS_URL, redis_prefix=redis_prefix
    )
    try:
        assert names(ask(a, taught)) == first
        body = ask(b, asked)
        assert names(body) == then and source(body) == ("cache", "template")
    finally:
        a.stop()
        b.stop()
