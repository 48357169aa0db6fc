"""The error catalogue: one module holds every error class and code, and the README lists exactly those."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gateway
from conftest import LiveServer, make_gateway
from gateway import errors

ROOT = Path(__file__).resolve().parent.parent


def _import_every_module() -> None:
    """Import all of gateway/, so an error class declared anywhere shows up as a subclass."""
    for info in pkgutil.walk_packages(gateway.__path__, "gateway."):
        try:
            importlib.import_module(info.name)
        except ImportError as e:  # an optional extra (llama_cpp, redis) that is not installed
            if not getattr(e, "name", None) or e.name.split(".")[0] == "gateway":
                raise


def _readme_codes() -> list[str]:
    """The codes in the first column of the README's error-code table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Error codes", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE)


def test_the_readme_lists_exactly_the_codes_of_the_catalogue() -> None:
    listed = _readme_codes()
    assert len(listed) == len(set(listed)), "a code is listed twice in the README"
    assert sorted(listed) == sorted(errors.catalogue())


def test_the_readme_names_each_codes_class() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Error codes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| `(\w+)` \|", section, flags=re.MULTILINE))
    assert rows == {code: cls.__name__ for code, cls in errors.catalogue().items()}


def test_every_error_class_lives_in_the_catalogue_module_with_a_code_of_its_own() -> None:
    _import_every_module()
    seen: dict[str, str] = {}
    pending = list(errors.GatewayError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("tests") or cls.__module__ == __name__:
            continue
        assert cls.__module__ == "gateway.errors", f"{cls.__qualname__} is declared in {cls.__module__}"
        assert "code" in vars(cls), f"{cls.__name__} inherits its code instead of naming its own"
        assert cls.code not in seen, f"{cls.__name__} and {seen[cls.code]} share {cls.code}"
        seen[cls.code] = cls.__name__


def test_the_docstring_tree_shows_every_class_and_code_once() -> None:
    doc = errors.__doc__ or ""
    for code, cls in errors.catalogue().items():
        found = re.findall(rf"\b{cls.__name__}\s+\[{code}\]", doc)
        assert len(found) == 1, f"{cls.__name__} [{code}] is in the tree {len(found)} times, not once"


def test_the_docstring_tree_puts_each_class_under_its_real_base() -> None:
    parents: list[str] = []  # the branch being read: parents[d] is the class at depth d
    seen = 0
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^    ([│ ]*?)(├── |└── )?([A-Z]\w+)(?:\s|$)", line)
        if not m:
            continue
        depth = len(m.group(1)) // 4 + (1 if m.group(2) else 0)
        parents[depth:] = [m.group(3)]
        cls = getattr(errors, m.group(3))
        if depth:
            assert cls.__bases__[0].__name__ == parents[depth - 1], f"{cls.__name__} is drawn under the wrong class"
        seen += 1
    assert seen == len(errors.catalogue()) + 1  # every class and GatewayError itself


def test_the_gateway_package_exports_every_error_class() -> None:
    for cls in errors.catalogue().values():
        assert getattr(gateway, cls.__name__) is cls
        assert cls.__name__ in gateway.__all__


CODE_LIKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
NOT_CODES = {"DOUBLE_PRECISION"}  # a SQL type name the migrator compares
CODES = set(errors.catalogue())  # one-word codes too (FORBIDDEN, UNAUTHENTICATED)


def _code_like_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """UPPER_SNAKE string literals, leaving out the names an ``__all__`` lists."""
    exported: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            exported.update(id(c) for c in ast.walk(node.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in exported
        and (CODE_LIKE.match(node.value) or node.value in CODES)
        and node.value not in NOT_CODES
    ]


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "gateway").rglob("*.py")
        if p.name not in ("errors.py", "config.py")
    ),  # config.py names environment variables
)
def test_no_module_spells_an_error_code_outside_the_catalogue(path: str) -> None:
    """A code written as a literal elsewhere reaches clients without being catalogued: raise the
    class from gateway.errors (or use ``SomeError.code``) instead."""
    found = _code_like_literals(ast.parse((ROOT / path).read_text(encoding="utf-8")))
    assert not found, f"{path}: {found} look like error codes; declare them in gateway/errors.py"


# One live request per request-level code: the class's status and code are what the client gets.
KEY = "k1"
REQUESTS: dict[type[errors.GatewayError], dict[str, Any]] = {
    errors.RequestError: {"content": b"{not json", "headers": {"content-type": "application/json"}},
    errors.Unauthenticated: {"json": {"query": "{ tags { name } }"}, "key": None},
    errors.MutationNotAllowed: {"method": "GET", "params": {"query": 'mutation { tasks(q: "x") { id } }'}},
    errors.NotAcceptable: {"json": {"query": "{ tags { name } }"}, "headers": {"accept": "text/csv"}},
    errors.PayloadTooLarge: {"json": {"query": "{ tags { name } }", "variables": {"pad": "x" * 4000}}},
    errors.UnsupportedMediaType: {
        "content": b"query=1",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    },
    errors.QueryTooComplex: {"json": {"query": "{ tasks { project { tasks { project { name } } } } }"}},
    errors.BatchTooLarge: {"json": [{"query": "{ tags { name } }"}] * 3},
    errors.GraphQLParseFailed: {"json": {"query": "{ tags { name "}},
    errors.GraphQLValidationFailed: {"json": {"query": "{ tags { colour } }"}},
    errors.BadUserInput: {"json": {"query": "query($n: Int!) { tasks(limit: $n) { id } }"}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = f"sqlite:///{tmp_path_factory.mktemp('catalogue') / 'store.db'}"
    live = LiveServer(make_gateway(db, api_keys=f"{KEY}:admin", max_body_bytes=2000, max_depth=3, max_batch=2)).start()
    yield live
    live.stop()


@pytest.mark.parametrize("cls", list(REQUESTS), ids=lambda c: c.__name__)
def test_each_request_error_reaches_the_client_with_its_status_and_code(
    server: LiveServer, cls: type[errors.GatewayError]
) -> None:
    spec = dict(REQUESTS[cls])
    key = spec.pop("key", KEY)
    headers = {"accept": "application/graphql-response+json", **spec.pop("headers", {})}
    if key:
        headers["authorization"] = f"Bearer {key}"
    resp = httpx.request(spec.pop("method", "POST"), server.url, headers=headers, timeout=30, **spec)
    assert resp.status_code == getattr(cls, "status", 400)
    body = resp.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [cls.code]
    assert "data" not in body


def test_the_other_entries_of_a_refused_batch_say_why_they_did_not_run(server: LiveServer) -> None:
    batch = [{"query": "{ tags { name } }"}, {"query": "{ tags { colour } }"}]
    headers = {"accept": "application/graphql-response+json", "authorization": f"Bearer {KEY}"}
    body = httpx.post(server.url, json=batch, headers=headers, timeout=30).json()
    codes = [[e["extensions"]["code"] for e in entry["errors"]] for entry in body]
    assert codes == [[errors.BatchRefused.code], [errors.GraphQLValidationFailed.code]]
