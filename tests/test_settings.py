"""Settings in one place: only gateway/config.py reads the environment, workers get the settings whole,
and the model timeout is the one setting every provider receives."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import DEMO_SCHEMA, TRACKER_SEED, free_port
from fake_llm_server import FakeLLMServer, Reply, chat_ok, fail, run
from gateway import ModelTimeout, Settings
from gateway.config import handed_to_workers  # internal: how serve --workers hands the settings over
from gateway.llm import get_provider  # internal: the provider factory is what receives the settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "gateway").rglob("*.py") if p.name != "config.py")
)
def test_only_config_reads_the_environment(path: str) -> None:
    source = (ROOT / path).read_text(encoding="utf-8")
    assert not re.findall(r"os\.environ|getenv\(", source)


def test_settings_come_from_gateway_and_provider_variables_with_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GATEWAY_PORT": "9001",
        "GATEWAY_MODEL_TIMEOUT_S": "7.5",
        "GATEWAY_GRAPHIQL": "off",
        "GATEWAY_EMBEDDED_THREADS": "3",
        "OPENAI_JSON_SCHEMA": "0",
        "GATEWAY_TRACES": "",
        "MISTRAL_API_KEY": "sk-SECRET-1",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env(db="sqlite:///flag.db", schema=None)
    assert (s.port, s.model_timeout_s, s.graphiql, s.embedded_threads) == (9001, 7.5, False, 3)
    assert s.openai_json_schema is False and s.traces is None
    assert s.db == "sqlite:///flag.db" and s.schema == "schema.graphql"  # a flag wins; None leaves the default
    assert s.mistral_api_key == "sk-SECRET-1" and "sk-SECRET-1" not in repr(s)
    assert Settings.from_json(s.to_json()) == s


def test_the_model_timeout_setting_bounds_a_remote_provider() -> None:
    with FakeLLMServer() as server:
        server.script(Reply(200, chat_ok().body, delay_s=2.0), chat_ok())
        provider = get_provider("openai:m", Settings(openai_base_url=f"{server.url}/v1", model_timeout_s=0.5))
        started = time.perf_counter()
        err = fail(provider)
        assert time.perf_counter() - started < 1.9
        assert isinstance(err, ModelTimeout) and "0.5" in err.message
        assert run(get_provider("openai:m", Settings(openai_base_url=f"{server.url}/v1"))).text


def test_settings_handed_to_workers_arrive_whole_and_leave_the_environment_as_it_was() -> None:
    before = dict(os.environ)
    given = Settings(db="sqlite:///flag.db", max_depth=4, api_keys="k:admin", mistral_api_key="sk-SECRET-2")
    with handed_to_workers(given):
        script = "from gateway import Settings; print(Settings.from_env().to_json())"
        child = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert Settings.from_json(child.stdout) == given
    assert dict(os.environ) == before


@pytest.fixture
def served_by_workers(tmp_path: Path) -> Iterator[str]:
    """``gateway serve --workers 2`` on a store named only by a flag, with a setting only in the environment."""
    db = f"sqlite:///{tmp_path / 'flag-only.db'}"
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(TRACKER_SEED), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "MISTRAL_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["GATEWAY_API_KEYS"] = "k1:admin"
    cli = [sys.executable, "-m", "gateway.cli"]
    subprocess.run(
        [*cli, "import", str(seed), "--schema", str(DEMO_SCHEMA), "--db", db],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (tmp_path / "none.json").write_text("[]", encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            *cli,
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--schema",
            str(DEMO_SCHEMA),
            "--db",
            db,
            "--model",
            "scripted:" + str(tmp_path / "none.json"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    stderr = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"serve --workers did not start: {stderr}") from e
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_workers_serve_the_settings_given_as_flags_and_environment(served_by_workers: str) -> None:
    query = {"query": "{ projects { name } }"}
    assert httpx.post(served_by_workers, json=query, timeout=30).status_code == 401  # GATEWAY_API_KEYS reached them
    for _ in range(4):  # requests land on either worker
        resp = httpx.post(served_by_workers, json=query, headers={"authorization": "Bearer k1"}, timeout=30)
        assert sorted(p["name"] for p in resp.json()["data"]["projects"]) == ["Mobile app", "Website"]
