"""The declared public API: ``gateway.__all__`` holds what users import, and the tests, examples and
benchmarks import only that, or say on the line why they reach inside (``# internal: ...``)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import gateway

ROOT = Path(__file__).resolve().parent.parent
USERS = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("tests", "examples", "bench")
    for p in (ROOT / folder).rglob("*.py")
    if "node_modules" not in p.parts
)


def test_every_public_name_is_importable_and_documented() -> None:
    assert len(gateway.__all__) == len(set(gateway.__all__))
    for name in gateway.__all__:
        doc = (getattr(gateway, name).__doc__ or "").strip()
        assert doc and not doc.startswith(f"{name}("), f"gateway.{name} has no docstring of its own"


def test_the_readme_quick_start_names_resolve() -> None:
    """What the README and the examples show a user: one import line gives all of it."""
    from gateway import Gateway, GatewayClient, GatewayError, Settings, connector, create_app

    assert GatewayError.__module__ == "gateway.errors"
    assert {Gateway.__name__, GatewayClient.__name__, Settings.__name__} == {"Gateway", "GatewayClient", "Settings"}
    assert callable(connector) and callable(create_app)


@pytest.mark.parametrize("path", USERS)
def test_tests_examples_and_benchmarks_import_the_public_api_or_say_why_not(path: str) -> None:
    source = (ROOT / path).read_text(encoding="utf-8")
    lines = source.splitlines()
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names if a.name.startswith("gateway.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway."):
            modules = [str(node.module)]
            module = importlib.import_module(str(node.module))
            for alias in node.names:
                if alias.name in gateway.__all__ and getattr(module, alias.name, None) is getattr(gateway, alias.name):
                    problems.append(f"line {node.lineno}: import {alias.name} from gateway, not {node.module}")
        else:
            continue
        if modules and "# internal:" not in lines[node.lineno - 1]:
            problems.append(f"line {node.lineno}: {modules[0]} is internal; say why on the line (# internal: ...)")
    assert not problems, "\n".join(problems)


def test_importing_gateway_needs_no_optional_extra() -> None:
    """``import gateway`` works on the quick-start install: no redis, no psycopg, no llama.cpp."""
    blocked = "import sys\nfor name in ('redis', 'psycopg', 'llama_cpp'):\n    sys.modules[name] = None\nimport gateway"
    done = subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
