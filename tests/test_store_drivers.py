"""A store or Redis URL whose driver is not installed stops the gateway with one line naming what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_SCHEMA

ROOT = Path(__file__).resolve().parent.parent

# ``sys.modules[name] = None`` makes ``import name`` raise ModuleNotFoundError: the quick-start
# install (no ``postgres`` extra) without uninstalling psycopg from the test environment.
WITHOUT = "import sys; sys.modules[{name!r}] = None; from gateway.cli import app; app()"


def gateway_without(module: str | None, *args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    code = WITHOUT.format(name=module) if module else "from gateway.cli import app; app()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **env_vars}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres:secret@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"]
)
def test_postgresql_without_the_driver_names_the_postgres_extra(url: str) -> None:
    result = gateway_without("psycopg", "export", "--schema", str(DEMO_SCHEMA), "--db", url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert "llm-graphql-gateway[postgres]" in result.stderr and "secret" not in result.stderr


def test_another_missing_driver_is_named() -> None:
    result = gateway_without(None, "export", "--schema", str(DEMO_SCHEMA), "--db", "mysql+pymysql://u@127.0.0.1/x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pymysql" in result.stderr and "not installed" in result.stderr


@pytest.mark.parametrize("plan_cache", ["true", "false"])  # without the plan cache, notifications use Redis first
def test_a_redis_url_without_the_redis_package_names_the_redis_extra(tmp_path: Path, plan_cache: str) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = gateway_without(
        "redis",
        "export",
        "--schema",
        str(DEMO_SCHEMA),
        "--db",
        db,
        GATEWAY_REDIS_URL="redis://127.0.0.1:6379/0",
        GATEWAY_PLAN_CACHE=plan_cache,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "llm-graphql-gateway[redis]" in result.stderr
