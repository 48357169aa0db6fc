"""The plan: the only thing the model may answer with.

A plan is a short list of steps (``find``, ``insert``, ``update``, ``delete``, ``aggregate``,
and ``call``/``filter`` for connectors) and the index of the step that is the field's result,
or an honest ``{"refuse": "why"}`` when the contract cannot serve the request. These pydantic
models check the *shape* of the JSON; :attr:`Plan.tree` parses filters, values and orderings
once into typed nodes (:mod:`gateway.plan.nodes`), and :mod:`gateway.validation` checks the
fit to the SDL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ..errors import PlanInvalid
from .nodes import FILTER_OPS, MAX_NODES, Expr, OrderItem, Parser
from .nodes import Filter as FilterNode

AGGREGATE_FUNCTIONS = ("count", "sum", "avg", "min", "max")
WRITE_OPS = ("insert", "update", "delete")
STORE_OPS = ("find", "insert", "update", "delete", "aggregate")
MAX_LIMIT = 2**31 - 1  # GraphQL's Int: larger limits overflow SQLite and mean nothing more
T = TypeVar("T")
MAX_PLAN_DEPTH = 40  # JSON nesting of a plan; a filter ten thousand levels deep is an attack, not a plan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Order(_Strict):
    """Order by a field (``"$created"`` is creation order) or by a computed ``expr``."""

    field: str | None = None
    expr: Any = None
    direction: Literal["asc", "desc"] = "asc"


class Aggregation(_Strict):
    fn: Literal["count", "sum", "avg", "min", "max"]
    field: str | None = None
    expr: Any = None
    as_: str = Field(alias="as")


class Find(_Strict):
    """Select records of one model (in creation order unless ordered)."""

    op: Literal["find"]
    model: str
    where: dict[str, Any] | None = None
    orderBy: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    offset: int | None = Field(default=None, ge=0, le=MAX_LIMIT)


class Insert(_Strict):
    """Create records; ids are generated unless given."""

    op: Literal["insert"]
    model: str
    values: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class Update(_Strict):
    """Change the records matching ``where``; returns them as they are after the change."""

    op: Literal["update"]
    model: str
    where: dict[str, Any] | None = None
    set: dict[str, Any] = Field(min_length=1)


class Delete(_Strict):
    """Remove the records matching ``where``; returns them as they were."""

    op: Literal["delete"]
    model: str
    where: dict[str, Any] | None = None


class Aggregate(_Strict):
    """Count, sum, average, min or max, optionally grouped."""

    op: Literal["aggregate"]
    model: str
    where: dict[str, Any] | None = None
    groupBy: list[str] = Field(default_factory=list)
    aggregates: list[Aggregation] = Field(min_length=1)
    orderBy: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=0, le=MAX_LIMIT)


class Call(_Strict):
    """Invoke a registered connector with arguments checked against its signature."""

    op: Literal["call"]
    connector: str
    args: dict[str, Any] = Field(default_factory=dict)


class Filter(_Strict):
    """Filter, order and limit the records an earlier ``call`` step returned."""

    op: Literal["filter"]
    step: int
    where: dict[str, Any] | None = None
    orderBy: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=0, le=MAX_LIMIT)


Step = Annotated[Find | Insert | Update | Delete | Aggregate | Call | Filter, Field(discriminator="op")]


@dataclass
class Measure:
    fn: str
    expr: Expr | None
    alias: str


@dataclass
class StepTree:
    """One step's filters, values and orderings as typed nodes."""

    step: Any
    where: FilterNode | None = None
    order: tuple[OrderItem, ...] = ()
    rows: list[dict[str, Expr]] = field(default_factory=list)
    set: dict[str, Expr] = field(default_factory=dict)
    args: dict[str, Expr] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)


class Plan(_Strict):
    steps: list[Step] = Field(default_factory=list, max_length=20)
    result: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    refuse: str | None = Field(default=None, max_length=500)
    _tree: list[StepTree] | None = PrivateAttr(default=None)
    _derived: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _steps_or_refusal(self) -> Plan:
        if self.refuse is None and not self.steps:
            raise ValueError("a plan has at least one step, or refuses with a reason")
        if self.refuse is not None and not self.refuse.strip():
            raise ValueError("a refusal gives its reason")
        return self

    @property
    def result_index(self) -> int:
        return len(self.steps) - 1 if self.result is None else self.result

    @property
    def writes(self) -> bool:
        return any(s.op in WRITE_OPS for s in self.steps)

    @property
    def tree(self) -> list[StepTree]:
        """Each step's parts parsed once into typed nodes (raises PlanInvalid on a bad part)."""
        if self._tree is None:
            self._tree = _parse_tree(self.steps)
        return self._tree

    def parse_unbounded(self) -> Plan:
        """Parse without the node cap a model's answer gets: seed imports hold many records."""
        self._tree = _parse_tree(self.steps, max_nodes=None)
        return self

    def with_result_page(self, **changes: int | None) -> Plan:
        """The plan with its result step's ``limit``/``offset`` changed (a page of it): a new plan
        that shares this one's parsed parts, which those two never enter."""
        if not set(changes) <= {"limit", "offset"}:
            raise ValueError(f"only limit and offset change a page, not {sorted(changes)}")
        index = self.result_index
        steps = list(self.steps)
        steps[index] = steps[index].model_copy(update=changes)
        paged = Plan(steps=steps, result=self.result, params=self.params)
        if self._tree is not None:
            tree = list(self._tree)
            tree[index] = replace(tree[index], step=steps[index])
            paged._tree = tree
        return paged

    def derived(self, name: str, make: Callable[[], T]) -> T:
        """A value computed from this plan alone, once (a plan is not changed once validated; a
        cached plan is shared by the requests it answers). Keep it immutable: it is shared too."""
        if name not in self._derived:
            self._derived[name] = make()
        return self._derived[name]  # type: ignore[no-any-return]

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _parse_tree(steps: list[Any], max_nodes: int | None = MAX_NODES) -> list[StepTree]:
    parser = Parser(max_nodes)
    out = []
    for i, s in enumerate(steps):
        path = f"steps[{i}]"
        t = StepTree(s)
        if getattr(s, "where", None) is not None:
            t.where = parser.filter(s.where, f"{path}.where")
        if getattr(s, "orderBy", None):
            t.order = parser.order([o.model_dump(exclude_none=True) for o in s.orderBy], f"{path}.orderBy")
        if isinstance(s, Insert):
            t.rows = [
                {k: parser.expr(v, f"{path}.values[{j}].{k}") for k, v in row.items()} for j, row in enumerate(s.values)
            ]
        elif isinstance(s, Update):
            t.set = {k: parser.expr(v, f"{path}.set.{k}") for k, v in s.set.items()}
        elif isinstance(s, Call):
            t.args = {k: parser.expr(v, f"{path}.args.{k}") for k, v in s.args.items()}
        elif isinstance(s, Aggregate):
            for j, a in enumerate(s.aggregates):
                sub = f"{path}.aggregates[{j}]"
                if a.expr is not None:
                    expr = parser.expr(a.expr, f"{sub}.expr")
                elif a.field is not None:
                    expr = parser.expr({"field": a.field}, f"{sub}.field")
                else:
                    expr = None
                t.measures.append(Measure(a.fn, expr, a.as_))
        out.append(t)
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a plan may use")


class _Repeated(list[dict[str, Any]]):
    """A field condition that named one operator twice, split into conditions that each
    name it once; the object holding it turns them into an ``and``."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Repeated:
    """An object from JSON pairs, keys given once.

    JSON keeps the last of a repeated key, so ``{"status": {"ne": "SHIPPED", "ne":
    "CANCELLED"}}`` would silently drop a condition (the grammar cannot forbid repeats; seen in
    the eval). A field condition's operators all hold together, so a repeated one means both:
    the field's conditions become ``{"and": [...]}``. Any other repeated key is refused.
    """
    out: dict[str, Any] = {}
    conditions: list[dict[str, Any]] = []
    for key, value in pairs:
        if isinstance(value, _Repeated):
            conditions += [{key: part} for part in value]
        elif key not in out:
            out[key] = value
        elif all(k in FILTER_OPS for k, _ in pairs):
            return _split_repeats(pairs)
        else:
            raise ValueError(
                f"{key!r} is written twice in one object; JSON keeps only the last. Write each key once: two "
                'conditions are {"and": [...]}, several values of one field "in": [...]'
            )
    if conditions:
        if not isinstance(out.get("and", []), list):
            raise ValueError('"and" takes a list of filters')
        out["and"] = [*out.get("and", []), *conditions]
    return out


def _split_repeats(pairs: list[tuple[str, Any]]) -> _Repeated:
    parts = _Repeated()
    for key, value in pairs:
        target = next((p for p in parts if key not in p), None)
        if target is None:
            target = {}
            parts.append(target)
        target[key] = value
    return parts


def answer_json(answer: str) -> Any:
    """The JSON of a model's answer (code fences dropped), or PlanInvalid."""
    text = _strip_fences(answer)
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise PlanInvalid(
            f"the model's answer is not JSON: {e.msg} at char {e.pos}",
            errors=[f"not JSON: {e.msg} at char {e.pos}"],
        ) from e
    except (ValueError, RecursionError) as e:
        raise PlanInvalid(
            f"the model's answer is not a usable plan: {str(e)[:200]}", errors=[f"not usable: {str(e)[:200]}"]
        ) from e
    _check_json(data)  # depth and text checked before anything walks it
    return data


def parse_plan(answer: str | dict[str, Any]) -> Plan:
    """Parse a model answer (JSON text or object) into a :class:`Plan`, or raise PlanInvalid."""
    data = answer_json(answer) if isinstance(answer, str) else answer
    if not isinstance(answer, str):
        _check_json(data)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as e:
        errors = [f"{'.'.join(str(p) for p in err['loc']) or 'plan'}: {err['msg']}" for err in e.errors()]
        raise PlanInvalid("the model's answer is not a valid plan: " + "; ".join(errors[:5]), errors=errors) from e
    except RecursionError as e:
        raise PlanInvalid("the model's answer is nested too deeply", errors=["plan: nested too deeply"]) from e
    _ = plan.tree  # parse filters, values and orderings now, so shape errors surface before validation
    return plan


def _check_json(data: Any) -> None:
    """Refuse nesting past MAX_PLAN_DEPTH and text that is not valid Unicode, before anything walks it.

    Walked without recursion, so a hostile answer cannot exhaust the stack; unpaired surrogates
    would make the response (and some stores) fail after the plan had run.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_PLAN_DEPTH:
            raise PlanInvalid(
                f"the plan is nested deeper than {MAX_PLAN_DEPTH} levels",
                errors=[f"nested deeper than {MAX_PLAN_DEPTH} levels"],
            )
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise PlanInvalid(
                    "the plan holds text that is not valid Unicode (an unpaired surrogate)",
                    errors=["text with an unpaired surrogate"],
                ) from e
        elif isinstance(value, float) and not math.isfinite(value):
            raise PlanInvalid(
                "the plan holds NaN or Infinity, which are not JSON numbers",
                errors=["NaN or Infinity is not a JSON number"],
            )


def is_finite_number(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _strip_fences(text: str) -> str:
    """Models without structured output like to wrap JSON in Markdown fences."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


def generic_json_schema() -> dict[str, Any]:
    """The JSON Schema of any plan, for export (the SDK's types); providers use the narrowed one."""
    return Plan.model_json_schema(by_alias=True)
