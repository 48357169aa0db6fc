"""Persisted queries (Apollo's APQ) and trusted documents (a codegen manifest, ``documentId``) over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    DEMO_SCHEMA,
    Harness,
    LiveServer,
    insert_plan,
    make_gateway,
    seed_tracker,
)
from gateway import ManifestInvalid, ScriptedProvider, create_app, export_records

GQL = "application/graphql-response+json"
PROJECTS = "query Projects { projects { name } }"
TAGS = "query Tags { tags { name } }"
ADD_TAG = "mutation AddTag($q: String!) { tags(q: $q) { name } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def post(h: Harness, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(h.server.url, json=body, headers={"accept": GQL}, timeout=30)


def get(h: Harness, params: dict[str, Any]) -> httpx.Response:
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return httpx.get(h.server.url, params=encoded, headers={"accept": GQL}, timeout=30)


def code(resp: httpx.Response) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


def start(db: str, **settings: Any) -> Harness:
    model = ScriptedProvider([])
    h = Harness(LiveServer(make_gateway(db, provider=model, **settings)).start(), model)
    seed_tracker(h)
    return h


@pytest.fixture
def h(db_url: str) -> Iterator[Harness]:
    harness = start(db_url, get_max_age=60)
    yield harness
    harness.server.stop()


def write_manifest(tmp_path: Path, *documents: str) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha(d): d for d in documents}), encoding="utf-8")
    return path


# -- automatic persisted queries ------------------------------------------------------------
def test_apq_miss_then_register_then_hash_alone_over_post_and_get(h: Harness) -> None:
    digest = sha(PROJECTS)
    miss = post(h, {"extensions": apq(digest)})
    assert miss.status_code == 200  # part of the protocol, as Apollo Server answers it
    assert miss.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    miss_get = get(h, {"extensions": apq(digest)})
    assert miss_get.headers["cache-control"] == "private, no-cache, must-revalidate"

    sent = post(h, {"query": PROJECTS, "extensions": apq(digest)})
    assert sorted(p["name"] for p in sent.json()["data"]["projects"]) == ["Mobile app", "Website"]

    by_post = post(h, {"extensions": apq(digest), "operationName": "Projects"})
    assert by_post.json()["data"] == sent.json()["data"]
    by_get = get(h, {"extensions": apq(digest), "operationName": "Projects"})
    assert by_get.status_code == 200 and by_get.json()["data"] == sent.json()["data"]
    assert by_get.headers["cache-control"] == "public, max-age=60"
    assert h.model.calls == []


def test_apq_hash_that_does_not_match_its_document_is_refused_and_not_stored(h: Harness) -> None:
    wrong = sha(TAGS)
    resp = post(h, {"query": PROJECTS, "extensions": apq(wrong)})
    assert resp.status_code == 400 and code(resp) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in resp.json()
    assert code(post(h, {"extensions": apq(wrong)})) == "PERSISTED_QUERY_NOT_FOUND"


def test_an_apq_miss_in_a_batch_answers_in_place_and_the_rest_runs(h: Harness) -> None:
    resp = httpx.post(
        h.server.url, json=[{"extensions": apq(sha(TAGS))}, {"query": PROJECTS}], headers={"accept": GQL}, timeout=30
    )
    miss, ran = resp.json()
    assert resp.status_code == 200
    assert miss["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert sorted(p["name"] for p in ran["data"]["projects"]) == ["Mobile app", "Website"]
    mismatch, refused = httpx.post(
        h.server.url,
        json=[{"query": PROJECTS, "extensions": apq(sha(TAGS))}, {"query": PROJECTS}],
        headers={"accept": GQL},
    ).json()
    assert mismatch["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert refused["errors"][0]["extensions"]["code"] == "BATCH_REFUSED"  # other bad input still refuses the batch


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
        {"persistedQuery": "abc"},
    ],
)
def test_malformed_persisted_query_extension_is_a_coded_400(h: Harness, extension: dict[str, Any]) -> None:
    resp = post(h, {"extensions": extension})
    assert resp.status_code == 400 and code(resp) == "PERSISTED_QUERY_INVALID"


def test_a_document_that_does_not_validate_is_not_registered(h: Harness) -> None:
    bad = "query { nothingHere { id } }"
    resp = post(h, {"query": bad, "extensions": apq(sha(bad))})
    assert resp.status_code == 400 and "nothingHere" in resp.json()["errors"][0]["message"]
    assert code(post(h, {"extensions": apq(sha(bad))})) == "PERSISTED_QUERY_NOT_FOUND"


def test_a_mutation_by_hash_is_refused_over_get_and_runs_over_post(h: Harness) -> None:
    digest = sha(ADD_TAG)
    h.model.push(insert_plan("Tag", {"name": "garden"}))
    first = post(h, {"query": ADD_TAG, "variables": {"q": "add a tag garden"}, "extensions": apq(digest)})
    assert first.json()["data"] == {"tags": [{"name": "garden"}]}
    over_get = get(h, {"extensions": apq(digest), "variables": json.dumps({"q": "add a tag shed"})})
    assert over_get.status_code == 405
    assert len(h.model.calls) == 1


def test_registered_documents_outlive_the_process_in_the_store(db_url: str) -> None:
    first = start(db_url)
    try:
        post(first, {"query": TAGS, "extensions": apq(sha(TAGS))})
    finally:
        first.server.stop()
    second = Harness(LiveServer(make_gateway(db_url, provider=ScriptedProvider([]))).start(), ScriptedProvider([]))
    try:
        assert post(second, {"extensions": apq(sha(TAGS))}).json()["data"]["tags"]
    finally:
        second.server.stop()


def test_redis_shares_registered_documents_between_gateways_on_different_stores(tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    a = start(f"sqlite:///{tmp_path / 'a.db'}", redis_url="redis://127.0.0.1:6379/0", redis_prefix=prefix)
    b = start(f"sqlite:///{tmp_path / 'b.db'}", redis_url="redis://127.0.0.1:6379/0", redis_prefix=prefix)
    try:
        assert code(post(b, {"extensions": apq(sha(TAGS))})) == "PERSISTED_QUERY_NOT_FOUND"
        post(a, {"query": TAGS, "extensions": apq(sha(TAGS))})
        assert sorted(t["name"] for t in post(b, {"extensions": apq(sha(TAGS))}).json()["data"]["tags"]) == [
            "home",
            "urgent",
        ]
    finally:
        a.server.stop()
        b.server.stop()
        client = redis.Redis()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_an_unreachable_redis_leaves_registered_documents_to_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    # nothing listens on port 9; the plan cache is off, so only the persisted queries use Redis
    db = f"sqlite:///{tmp_path / 'a.db'}"
    a = start(db, redis_url="redis://127.0.0.1:9/0")
    try:
        assert post(a, {"query": TAGS, "extensions": apq(sha(TAGS))}).json()["data"]["tags"]
    finally:
        a.server.stop()
    # a fresh process's memory on the same store: the store answers
    b = Harness(LiveServer(make_gateway(db, redis_url="redis://127.0.0.1:9/0")).start(), ScriptedProvider([]))
    try:
        assert sorted(t["name"] for t in post(b, {"extensions": apq(sha(TAGS))}).json()["data"]["tags"]) == [
            "home",
            "urgent",
        ]
    finally:
        b.server.stop()
    assert "persisted queries: Redis unavailable" in caplog.text


# -- trusted documents ----------------------------------------------------------------------
def test_document_id_with_and_without_prefix_over_post_and_get(db_url: str, tmp_path: Path) -> None:
    h = start(db_url, documents=str(write_manifest(tmp_path, PROJECTS, TAGS)), get_max_age=30)
    try:
        digest = sha(PROJECTS)
        prefixed = post(h, {"documentId": f"sha256:{digest}"})
        assert sorted(p["name"] for p in prefixed.json()["data"]["projects"]) == ["Mobile app", "Website"]
        assert post(h, {"documentId": digest}).json()["data"] == prefixed.json()["data"]
        by_get = get(h, {"documentId": f"sha256:{digest}"})
        assert by_get.json()["data"] == prefixed.json()["data"]
        assert by_get.headers["cache-control"] == "public, max-age=30"
        # the manifest's hashes are also APQ hashes, so Apollo's and urql's links work with no registration
        assert post(h, {"extensions": apq(sha(TAGS))}).json()["data"]["tags"]
        assert post(h, {"extensions": apq("sha256:" + sha(TAGS))}).json()["data"]["tags"]  # codegen's hash form
        unknown = post(h, {"documentId": "sha256:" + "0" * 64})
        assert unknown.status_code == 400 and code(unknown) == "DOCUMENT_NOT_FOUND"
        assert code(post(h, {"documentId": "md5:abc"})) == "PERSISTED_QUERY_INVALID"
        assert code(post(h, {"documentId": digest, "query": PROJECTS})) == "PERSISTED_QUERY_INVALID"
        # without trusted-only, other documents still run
        assert post(h, {"query": "{ people { name } }"}).json()["data"]["people"]
    finally:
        h.server.stop()


def test_trusted_documents_only_runs_the_manifest_and_refuses_everything_else(db_url: str, tmp_path: Path) -> None:
    h = start(db_url, documents=str(write_manifest(tmp_path, PROJECTS, ADD_TAG)), trusted_documents_only=True)
    try:
        assert post(h, {"documentId": sha(PROJECTS)}).json()["data"]["projects"]
        assert post(h, {"extensions": apq(sha(PROJECTS))}).json()["data"]["projects"]
        assert post(h, {"query": PROJECTS}).json()["data"]["projects"]
        reformatted = "query Projects {\n  projects {\n    name\n  }\n}"
        assert post(h, {"query": reformatted}).json()["data"]["projects"]

        before = export_records(h.gateway.executor)
        refused = [
            post(h, {"query": 'mutation { tags(q: "add a tag shed") { name } }'}),
            post(h, {"query": TAGS}),
            post(h, {"query": TAGS, "extensions": apq(sha(TAGS))}),
            post(h, {"extensions": apq(sha(TAGS))}),
            post(h, {"documentId": sha(TAGS)}),
        ]
        for resp in refused:
            assert resp.status_code == 403 and code(resp) == "DOCUMENT_NOT_TRUSTED", resp.text
            assert "data" not in resp.json()
        assert export_records(h.gateway.executor) == before and h.model.calls == []
        h.model.push(insert_plan("Tag", {"name": "shed"}))  # the trusted mutation runs
        added = post(h, {"documentId": sha(ADD_TAG), "variables": {"q": "add a tag shed"}})
        assert added.json()["data"] == {"tags": [{"name": "shed"}]}
    finally:
        h.server.stop()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        (json.dumps({sha(TAGS): PROJECTS}), "not the hash of its document"),
        (json.dumps({"tags-query": TAGS}), "sha256"),
        (json.dumps({sha("{ nothing }"): "{ nothing }"}), "does not fit the schema"),
        (json.dumps({sha("query {"): "query {"}), "does not parse"),
        (json.dumps({sha(TAGS): 42}), "not a GraphQL document"),
    ],
)
def test_a_malformed_manifest_stops_the_gateway_at_start_up(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(content, encoding="utf-8")
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", documents=str(path))
    try:
        with pytest.raises(ManifestInvalid, match=needle):
            create_app(gw)
    finally:
        gw.close()


def test_serve_refuses_a_bad_manifest_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({sha(TAGS): PROJECTS}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--schema",
            str(DEMO_SCHEMA),
            "--db",
            f"sqlite:///{tmp_path / 's.db'}",
            "--model",
            "scripted:none.json",
            "--documents",
            str(path),
            "--trusted-documents-only",
            "--port",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "not the hash of its document" in done.stderr and "Traceback" not in done.stderr


def test_trusted_only_without_a_manifest_is_refused(tmp_path: Path) -> None:
    gw = make_gateway(f"sqlite:///{tmp_path / 's.db'}", trusted_documents_only=True)
    try:
        with pytest.raises(ManifestInvalid, match="needs a manifest"):
            create_app(gw)
    finally:
        gw.close()
