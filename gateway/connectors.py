"""Connectors: typed Python functions the planner may call, like the internal APIs tools wrap.

    @connector("analytics.signups", returns="Signup")
    def signups(since: str, plan: str | None = None) -> list[dict]: ...

The function's type hints give the argument schema (listed to the model, checked before
anything runs); ``returns`` names an SDL type every result record must fit. A ``call`` step
invokes a connector, and a later ``filter`` step may filter, order and limit its records.
Connectors marked ``side_effects=True`` count as writes, so policy keeps them out of Query
fields. Declare them in a module named by ``--connectors module.path``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from .errors import ConnectorError, ConnectorResultInvalid, ConnectorTimeout, GatewayError, SchemaError
from .plan.nodes import AllOf, AnyOf, Expr, FieldTest, ListLiteral, Literal, Not
from .plan.visitor import Visitor
from .sdl import Catalog, Model
from .validation import scalar_problem


@dataclass
class Connector:
    name: str
    fn: Callable[..., Any]
    returns: str
    description: str
    side_effects: bool
    timeout_s: float
    args_model: type[BaseModel]

    def args_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()

    def check_args(self, args: dict[str, Any]) -> list[str]:
        """Errors in ``args`` against the function's signature (empty when they fit)."""
        try:
            self.args_model.model_validate(args)
        except ValidationError as e:
            return [f"{'.'.join(map(str, err['loc'])) or 'args'}: {err['msg']}" for err in e.errors()]
        return []


_registry: dict[str, Connector] = {}


def connector(
    name: str, *, returns: str, side_effects: bool = False, timeout_s: float = 10.0, description: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a connector; its type hints become the argument schema."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[pname] = (annotation, default)
        args_model = create_model(f"{name.replace('.', '_')}_args", __config__=ConfigDict(extra="forbid"), **fields)
        _registry[name] = Connector(
            name,
            fn,
            returns,
            description or (inspect.getdoc(fn) or "").split("\n")[0],
            side_effects,
            timeout_s,
            args_model,
        )
        return fn

    return register


def load_connectors(module_path: str | None, catalog: Catalog) -> dict[str, Connector]:
    """Import the module that declares connectors and check each against the SDL."""
    if not module_path:
        return {}
    before = set(_registry)
    module = _import(module_path)
    names = [n for n in _registry if n not in before] or [
        n for n, c in _registry.items() if c.fn.__module__ == module.__name__
    ]
    found = {n: _registry[n] for n in names}
    for c in found.values():
        if c.returns not in catalog.shapes:
            raise SchemaError(
                f"connector {c.name} returns {c.returns}; declare it in schema.graphql as an "
                "object type without id (connector records are not stored)"
            )
    return found


def _import(module_path: str) -> Any:
    """Import ``pkg.module`` (from the working directory too) or a ``path/to/file.py``."""
    if module_path.endswith(".py"):
        path = Path(module_path).resolve()
        spec = importlib.util.spec_from_file_location(f"gateway_connectors_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise SchemaError(f"cannot load connectors from {module_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_path)


def invoke(c: Connector, args: dict[str, Any]) -> Any:
    """Call the connector with validated arguments, within its timeout (its answer unchecked: see check_result)."""
    parsed = c.args_model.model_validate(args)
    kwargs = {k: getattr(parsed, k) for k in parsed.model_fields_set | _required(c)}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_call, c.fn, kwargs)
    try:
        result = future.result(timeout=c.timeout_s)
    except concurrent.futures.TimeoutError as e:
        raise ConnectorTimeout(
            f"connector {c.name} did not answer within {c.timeout_s:g} s; nothing was written", connector=c.name
        ) from e
    except GatewayError:
        raise
    except Exception as e:  # a connector is user code: any failure becomes a clear field error
        raise ConnectorError(f"connector {c.name} failed: {type(e).__name__}: {e}", connector=c.name) from e
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return result


def _required(c: Connector) -> set[str]:
    return {n for n, f in c.args_model.model_fields.items() if f.is_required()}


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def check_result(c: Connector, shape: Model, catalog: Catalog, result: Any) -> list[dict[str, Any]]:
    """Fit the connector's answer to its declared type, or fail the field clearly."""
    items = result if isinstance(result, list) else [result]
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, BaseModel):
            item = item.model_dump(mode="json")
        if not isinstance(item, dict):
            problems.append(f"[{i}]: {item!r} is not a record")
            continue
        record: dict[str, Any] = {"__typename": shape.name}
        for f in shape.fields.values():
            value = item.get(f.name)
            if value is None:
                if not f.nullable and f.kind != "refs":
                    problems.append(f"[{i}].{f.name}: required, missing")
                record[f.name] = None
                continue
            if f.kind in ("scalar", "enum"):
                problem = scalar_problem(catalog, f.type_name, value)
                if problem:
                    problems.append(f"[{i}].{f.name}: {problem}")
            elif f.kind == "scalars" and not isinstance(value, list):
                problems.append(f"[{i}].{f.name}: expected a list")
            record[f.name] = value
        records.append(record)
    if problems:
        raise ConnectorResultInvalid(
            f"connector {c.name} returned data outside {shape.name}: " + "; ".join(problems[:5]),
            connector=c.name,
            errors=problems,
        )
    return records


# -- filtering connector results in memory, with the plan's filter language ---------------
class RecordMatcher(Visitor):
    """Evaluates a validated filter (plain field operators, and/or/not) on one record."""

    def visit_AllOf(self, node: AllOf, record: dict[str, Any]) -> bool:
        return all(self.visit(i, record) for i in node.items)

    def visit_AnyOf(self, node: AnyOf, record: dict[str, Any]) -> bool:
        return any(self.visit(i, record) for i in node.items)

    def visit_Not(self, node: Not, record: dict[str, Any]) -> bool:
        return not self.visit(node.item, record)

    def visit_FieldTest(self, node: FieldTest, record: dict[str, Any]) -> bool:
        arg = node.value
        value = (
            arg.value
            if isinstance(arg, Literal)
            else [_plain(i) for i in arg.items]
            if isinstance(arg, ListLiteral)
            else None
        )
        return _op(record.get(node.field), node.op, value)


def _plain(node: Expr) -> Any:
    """A list item's value: a filter over connector records compares with plain values only (validation)."""
    assert isinstance(node, Literal)
    return node.value


def matches(record: dict[str, Any], where: Any) -> bool:
    return bool(RecordMatcher().visit(where, record))


def _op(value: Any, op: str, arg: Any) -> bool:
    if op == "isNull":
        return (value is None) == bool(arg)
    if op == "eq":
        return bool(value == arg)
    if op == "ne":
        return bool(value != arg)
    if op == "in":
        return value in (arg or [])
    if value is None:
        return False
    if op == "contains":
        if isinstance(value, list):
            return arg in value
        return str(arg).lower() in str(value).lower()
    if op == "startsWith":
        return str(value).lower().startswith(str(arg).lower())
    try:
        return bool({"lt": value < arg, "lte": value <= arg, "gt": value > arg, "gte": value >= arg}[op])
    except TypeError:
        return False


def order_and_limit(records: list[dict[str, Any]], orders: Any, limit: int | None) -> list[dict[str, Any]]:
    """Order by the plan's orderings (fields of the records) and cut to ``limit``."""
    for o in reversed(orders):
        name = o.expr.dotted
        present = [r for r in records if r.get(name) is not None]
        missing = [r for r in records if r.get(name) is None]
        records = sorted(present, key=lambda r: r[name], reverse=o.descending) + missing
    return records[:limit] if limit is not None else records
