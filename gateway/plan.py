"""The plan: the only thing the model may answer with.

A plan is a short list of steps (``find``, ``insert``, ``update``, ``delete``, ``aggregate``,
and ``call``/``filter`` for connectors)
and the index of the step that is the field's result. Values may point at what an earlier
step returned with ``{"$step": 0, "field": "id"}``. These pydantic models check the *shape*;
:mod:`gateway.validation` checks the fit to the SDL.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PlanInvalid

FILTER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startsWith", "isNull")
AGGREGATE_FUNCTIONS = ("count", "sum", "avg", "min", "max")
WRITE_OPS = ("insert", "update", "delete")
MAX_LIMIT = 2**31 - 1  # GraphQL's Int: larger limits overflow SQLite and mean nothing more
MAX_PLAN_DEPTH = 40  # JSON nesting of a plan; a filter ten thousand levels deep is an attack, not a plan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Order(_Strict):
    field: str
    direction: Literal["asc", "desc"] = "asc"


class Aggregation(_Strict):
    fn: Literal["count", "sum", "avg", "min", "max"]
    field: str | None = None
    as_: str = Field(alias="as")


class Find(_Strict):
    """Select records of one model."""

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
    values: list[dict[str, Any]] = Field(min_length=1)


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


Step = Annotated[Union[Find, Insert, Update, Delete, Aggregate, Call, Filter], Field(discriminator="op")]
STORE_OPS = ("find", "insert", "update", "delete", "aggregate")


class Plan(_Strict):
    steps: list[Step] = Field(min_length=1, max_length=20)
    result: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def result_index(self) -> int:
        return len(self.steps) - 1 if self.result is None else self.result

    @property
    def writes(self) -> bool:
        return any(s.op in WRITE_OPS for s in self.steps)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def is_operator_condition(cond: Any) -> bool:
    """``{"eq": ..}``-style: operators on the field itself, not a filter on a referenced model."""
    return isinstance(cond, dict) and set(cond) <= set(FILTER_OPS)


def is_step_ref(value: Any) -> bool:
    return isinstance(value, dict) and "$step" in value


def parse_plan(answer: str | dict[str, Any]) -> Plan:
    """Parse a model answer (JSON text or object) into a :class:`Plan`, or raise PlanInvalid."""
    if isinstance(answer, str):
        text = _strip_fences(answer)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanInvalid(f"the model's answer is not JSON: {e.msg} at char {e.pos}",
                              errors=[f"not JSON: {e.msg} at char {e.pos}"]) from e
        except (RecursionError, ValueError) as e:  # nesting or numbers Python cannot read
            raise PlanInvalid("the model's answer is not JSON a plan can hold: nested too deeply or a number "
                              "too long", errors=["nested too deeply or a number too long"]) from e
    else:
        data = answer
    _check_json(data)
    try:
        return Plan.model_validate(data)
    except ValidationError as e:
        errors = [f"{'.'.join(str(p) for p in err['loc']) or 'plan'}: {err['msg']}" for err in e.errors()]
        raise PlanInvalid("the model's answer is not a valid plan: " + "; ".join(errors[:5]),
                          errors=errors) from e


def _check_json(data: Any) -> None:
    """Refuse nesting past MAX_PLAN_DEPTH and text that is not valid Unicode, before anything walks it.

    Walked without recursion, so a hostile answer cannot exhaust the stack; unpaired surrogates
    would make the response (and some stores) fail after the plan had run.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_PLAN_DEPTH:
            raise PlanInvalid(f"the plan is nested deeper than {MAX_PLAN_DEPTH} levels",
                              errors=[f"nested deeper than {MAX_PLAN_DEPTH} levels"])
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise PlanInvalid("the plan holds text that is not valid Unicode (an unpaired surrogate)",
                                  errors=["text with an unpaired surrogate"]) from e
        elif isinstance(value, float) and not math.isfinite(value):
            raise PlanInvalid("the plan holds NaN or Infinity, which are not JSON numbers",
                              errors=["NaN or Infinity is not a JSON number"])


def _strip_fences(text: str) -> str:
    """Models without structured output like to wrap JSON in Markdown fences."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()


def generic_json_schema() -> dict[str, Any]:
    """The JSON Schema of any plan, for export; providers use the narrowed one."""
    return Plan.model_json_schema(by_alias=True)
