"""The architecture as the README draws it: every module of gateway/ in the table, and a data flow
that reads one way, no module importing (even only for its types) one that imports it back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gateway"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The gateway modules ``name`` imports, ``if TYPE_CHECKING:`` blocks and function bodies included."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:  # from . import pagination
                    found.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_module_reaches_back_to_one_that_imports_it() -> None:
    """HTTP -> execution -> the resolver -> planner, policy, executor -> store, and never back: a stage
    that needs something of a later one (execution runs the resolvers, the MCP tools run through
    the HTTP layer) receives it as a value typed by a small protocol, not by importing it."""
    graph = {name: _imports(name) for name in MODULES if name != "gateway"}
    cycles = _cycles(graph)
    detail = [" <-> ".join(c) + ": " + "; ".join(f"{a} imports {sorted(graph[a] & set(c))}" for a in c) for c in cycles]
    assert not cycles, "\n".join(detail)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _architecture_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| (`[^|]+) \| ([^\n]+) \|$", section, flags=re.MULTILINE)


def test_the_readme_architecture_table_names_every_module_and_only_modules_that_exist() -> None:
    rows = _architecture_rows()
    named = {n for first, _ in rows for n in re.findall(r"`([\w./]+)`", first)}
    top = {p.name for p in PACKAGE.glob("*.py")} | {
        p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    assert top <= named, f"modules missing from the README's architecture table: {sorted(top - named)}"
    for name in named:
        assert (PACKAGE / name).exists() or (ROOT / name).exists(), f"the README names {name}, which does not exist"
    for first, job in rows:
        for package in re.findall(r"`(\w+)/`", first):
            if not (PACKAGE / package / "__init__.py").exists():
                continue
            for module in (PACKAGE / package).glob("*.py"):
                if module.stem != "__init__":
                    assert f"`{module.stem}" in job, f"{package}/{module.name} is not in its row of the table"
