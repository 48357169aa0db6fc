"""Real JavaScript clients against a real `gateway serve` process on loopback.

Each Node suite (tests/js and sdk/) gets its own gateway: a subprocess on a free port, a fresh
SQLite file seeded from tests/js/seed.json, and a scripted model answering from the suite's
answers file. The suite runs with `node --test` and GATEWAY_URL pointing at that gateway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js"
SDK = ROOT / "sdk"
NODE, NPM = shutil.which("node"), shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not (NODE and NPM), reason="node and npm are not installed: no JavaScript client tests")


@dataclass
class Suite:
    folder: Path
    files: list[str]
    answers: Path | None = None  # the scripted model's answers, in order; none: no model calls
    server_env: dict[str, str] = field(default_factory=dict)
    node_env: dict[str, str] = field(default_factory=dict)
    prepare: list[list[str]] = field(default_factory=list)  # run in the suite's folder before the gateway starts
    serve_args: list[str] = field(default_factory=list)


BIN = JS / "node_modules" / ".bin"
PERSISTED_MANIFEST = JS / "generated" / "persisted" / "gql" / "persisted-documents.json"


SUITES = {
    "audit": Suite(JS, ["audit.test.mjs"]),
    "apollo": Suite(JS, ["apollo.test.mjs"], JS / "answers" / "apollo.json"),
    "urql": Suite(JS, ["urql.test.mjs"], JS / "answers" / "urql.json"),
    "codegen": Suite(JS, ["codegen.test.mjs"]),
    "apollo-persisted": Suite(JS, ["apollo-persisted.test.mjs"], JS / "answers" / "apollo-persisted.json"),
    "urql-persisted": Suite(JS, ["urql-persisted.test.mjs"], JS / "answers" / "urql-persisted.json"),
    # codegen's client preset writes the manifest and typed documents; the gateway serves only those
    "codegen-persisted": Suite(JS, ["codegen-persisted.test.mjs"], JS / "answers" / "codegen-persisted.json",
                               prepare=[[str(BIN / "graphql-codegen"), "--config", "codegen-persisted.yml", "--silent"],
                                        [str(BIN / "tsc"), "-p", "typed/persisted/tsconfig.json"]],
                               serve_args=["--documents", str(PERSISTED_MANIFEST), "--trusted-documents-only"]),
    "graphiql": Suite(JS, ["graphiql.test.mjs"]),
    "sdk": Suite(SDK, ["test/unit.test.mjs", "test/live.test.mjs"], SDK / "test" / "answers.json",
                 server_env={"GATEWAY_API_KEYS": "sdk-test-key:admin"}, node_env={"GATEWAY_API_KEY": "sdk-test-key"}),
}


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} in {cwd} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def node_packages() -> None:
    """`npm ci` where node_modules is missing or older than the lock file; build the SDK."""
    for folder in (JS, SDK):
        installed = folder / "node_modules" / ".package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime:
            _run([NPM, "ci", "--no-audit", "--no-fund"], folder)
    _run([NPM, "run", "build"], SDK)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without GATEWAY_* settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**env, **extra}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Suite], str]]:
    """Start `gateway serve` for a suite; stop it at the end of the test."""
    procs: list[subprocess.Popen] = []
    logs: list = []

    def start(suite: Suite) -> str:
        for command in suite.prepare:
            _run(command, suite.folder, timeout=300)
        db = f"sqlite:///{tmp_path / 'gateway.db'}"
        _run([sys.executable, "-m", "gateway.cli", "import", str(JS / "seed.json"), "--db", db,
              "--schema", str(ROOT / "schema.graphql")], ROOT, timeout=120)
        answers = suite.answers
        if answers is None:
            answers = tmp_path / "no-answers.json"
            answers.write_text("[]", encoding="utf-8")
        port = free_port()
        log = (tmp_path / "gateway.log").open("w", encoding="utf-8")
        logs.append(log)
        env = _clean_env(GATEWAY_PLAN_CACHE="false", **suite.server_env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--schema", str(ROOT / "schema.graphql"), "--db", db,
             "--model", f"scripted:{answers}", "--host", "127.0.0.1", "--port", str(port), *suite.serve_args],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gateway serve exited with {proc.returncode}:\n{(tmp_path / 'gateway.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return f"http://127.0.0.1:{port}/graphql"
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail(f"gateway serve did not answer in 60 s:\n{(tmp_path / 'gateway.log').read_text()}")
            time.sleep(0.1)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for log in logs:
        log.close()


@pytest.mark.parametrize("name", list(SUITES))
def test_node_suite(name: str, node_packages: None, serve: Callable[[Suite], str], tmp_path: Path) -> None:
    suite = SUITES[name]
    node_env = dict(suite.node_env)
    if name == "graphiql":
        if not Path(CHROMIUM).exists():
            pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)")
        node_env.setdefault("GRAPHIQL_SCREENSHOT", str(tmp_path / "graphiql.png"))
    url = serve(suite)
    done = subprocess.run([NODE, "--test", *suite.files], cwd=suite.folder, capture_output=True, text=True,
                          timeout=300, env=_clean_env(GATEWAY_URL=url, **node_env))
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, f"node --test {' '.join(suite.files)} failed:\n{output}"
