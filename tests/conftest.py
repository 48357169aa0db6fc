"""Shared fixtures: real stores (SQLite files, PostgreSQL when reachable) and a live HTTP server."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import uvicorn

from gateway import Gateway, ScriptedProvider, Settings, create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO_SCHEMA = ROOT / "schema.graphql"
PG_ADMIN_URL = os.environ.get("GATEWAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:
        return False


PG_AVAILABLE = _pg_reachable()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    import psycopg

    name = f"gw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on a SQLite file and, where reachable, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.gateway.close()

    def post(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        headers = {"accept": "application/graphql-response+json", **kw.pop("headers", {})}
        kw.setdefault("timeout", 30)
        return httpx.post(self.url, json=body, headers=headers, **kw)

    def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return self.post(query, variables, **kw).json()


@dataclass
class Harness:
    server: LiveServer
    model: ScriptedProvider

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway


def make_gateway(db: str, schema: str | Path = DEMO_SCHEMA, provider: Any = None, **settings: Any) -> Gateway:
    """A gateway on ``db``; the plan cache is off unless asked for, so scripted answers are used in order."""
    settings.setdefault("plan_cache", False)
    return Gateway(Settings(schema=str(schema), db=db, **settings), provider=provider)


@pytest.fixture
def harness(db_url: str) -> Iterator[Harness]:
    """The demo schema served over real HTTP, on a real store, with a scripted model."""
    model = ScriptedProvider([])
    server = LiveServer(make_gateway(db_url, provider=model)).start()
    yield Harness(server, model)
    server.stop()


def insert_plan(model: str, *records: dict) -> dict:
    return {"steps": [{"op": "insert", "model": model, "values": list(records)}], "result": 0, "params": {}}


TRACKER_SEED: dict[str, list[dict[str, Any]]] = {
    "Project": [{"id": "p1", "name": "Website"}, {"id": "p2", "name": "Mobile app"}],
    "Person": [{"id": "u1", "name": "Ada", "email": "ada@example.com"}, {"id": "u2", "name": "Linus"}],
    "Tag": [{"id": "g1", "name": "urgent"}, {"id": "g2", "name": "home"}],
    "Task": [
        {"id": "t1", "title": "Fix login", "status": "TODO", "priority": "HIGH", "estimate": 3,
         "project": "p1", "assignee": "u1", "tags": ["g1"]},
        {"id": "t2", "title": "Write docs", "status": "DONE", "priority": "LOW", "estimate": 1,
         "project": "p1", "assignee": "u2", "tags": []},
        {"id": "t3", "title": "Push notifications", "status": "IN_PROGRESS", "priority": "HIGH",
         "estimate": 5, "project": "p2", "assignee": "u1", "tags": ["g1", "g2"]},
    ],
}


def seed_tracker(h: Harness) -> None:
    """A small task tracker: two projects, two people, two tags, three tasks."""
    from gateway import import_records

    import_records(h.gateway.executor, TRACKER_SEED)
