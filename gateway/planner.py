"""Turn a request into a validated plan: prompt, call the model, validate, repair.

Whatever still fails validation after a bounded number of repairs becomes a ``PLAN_INVALID``
error that carries every attempt, so a client (and a developer) can see what went wrong.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .errors import InventedValue, ModelBudgetExceeded, ModelError, ModelTimeout, PlanInvalid, PlanRefused
from .limits import TokenBudget
from .llm.base import Message, Provider, Usage
from .plan import Aggregate, Plan, parse_plan
from .plan.lookups import parse_answer
from .plan.nodes import FieldTest, Literal, walk
from .plan_schema import plan_json_schema
from .policy import copied_examples, field_names_as_text, injection_phrase, invented_strings, unasked_fields
from .prompt import build_messages, example_texts, prompt_version
from .sdl import Catalog, RootField
from .second_look import doubts
from .traces import TraceLog
from .validation import validate_plan
from .vocabulary import Vocabulary


@dataclass
class Planned:
    plan: Plan
    model: str
    usage: Usage
    attempts: list[dict[str, Any]] = field(default_factory=list)
    request_id: str = ""


class Planner:
    def __init__(
        self, catalog: Catalog, provider: Provider, settings: Settings | None = None, traces: TraceLog | None = None
    ) -> None:
        self.catalog = catalog
        self.provider = provider
        self.settings = settings or Settings()
        self.traces = traces
        self._slots = asyncio.Semaphore(self.settings.model_concurrency)
        self._schemas: dict[str, dict[str, Any]] = {}
        self._examples: dict[str, set[str]] = {}
        self.vocabulary = Vocabulary(catalog)  # reads for things the contract has no word for are refused
        self.in_flight = 0  # plan calls under way: start-up warming waits for them

    def _example_texts(self, root: RootField) -> set[str]:
        if root.key not in self._examples:
            self._examples[root.key] = example_texts(self.catalog, root)
        return self._examples[root.key]

    def schema_for(self, root: RootField) -> dict[str, Any]:
        if root.key not in self._schemas:
            self._schemas[root.key] = plan_json_schema(self.catalog, root)
        return self._schemas[root.key]

    async def warm(self, root: RootField) -> bool:
        """Have the model read this field's fixed prompt prefix now (a provider that keeps
        prompt states does; others ignore it), so its first request reads only its own part."""
        warm = getattr(self.provider, "warm", None)
        if warm is None:
            return False
        messages = build_messages(self.catalog, root, "", "", {})
        return bool(await asyncio.to_thread(warm, messages))

    async def plan(
        self,
        root: RootField,
        request: str,
        selection: str = "",
        hints: dict[str, Any] | None = None,
        grounded_values: Iterable[str] = (),
        budget: TokenBudget | None = None,
        grounding: str = "(none)",
        learned: Sequence[tuple[str, Plan]] = (),
    ) -> Planned:
        """Plan one field; ``budget`` is shared by every model call of the incoming request."""
        self.in_flight += 1
        try:
            return await self._plan(root, request, selection, hints, grounded_values, budget, grounding, learned)
        finally:
            self.in_flight -= 1

    async def _plan(
        self,
        root: RootField,
        request: str,
        selection: str,
        hints: dict[str, Any] | None,
        grounded_values: Iterable[str],
        budget: TokenBudget | None,
        grounding: str,
        learned: Sequence[tuple[str, Plan]],
    ) -> Planned:
        phrase = injection_phrase(request)
        if phrase is not None:
            raise PlanRefused(
                f"the request speaks to the model ({phrase!r}) instead of asking for data; "
                "it is read as data, never as instructions; nothing was changed",
                reason="instructions in the request",
            )
        thing = self.vocabulary.unknown_thing(request) if root.readonly else None
        if thing is not None:
            raise PlanRefused(
                f"nothing in the schema stores {thing!r}: no type, field or value of the contract is named so; "
                "nothing was read",
                reason="not in the contract",
            )
        budget = budget or TokenBudget(self.settings.max_tokens_per_request)
        messages = build_messages(
            self.catalog, root, request, selection, hints or {}, grounding=grounding, learned=learned
        )
        prompt_length = len(messages)
        schema = self.schema_for(root)
        total = Usage(self.provider.name)
        attempts: list[dict[str, Any]] = []
        request_id = uuid.uuid4().hex
        seen: set[str] = set()
        last_error: PlanInvalid | None = None
        known = list(grounded_values)
        only_read: Plan | None = None  # the latest attempt's Mutation plan that changes nothing
        doubted: Plan | None = None  # a valid plan the model was asked to look at again: the fallback
        for _attempt in range(self.settings.repairs + 1):
            only_read = None
            second_look = False
            started = time.perf_counter()
            try:
                budget.check(sum(len(m["content"]) for m in messages))
                async with self._slots:
                    completion = await asyncio.wait_for(
                        self.provider.complete(messages, schema), self.settings.model_timeout_s
                    )
            except TimeoutError as e:
                raise ModelTimeout(
                    f"the model did not answer within {self.settings.model_timeout_s:g} s", attempts=attempts
                ) from e
            except ModelError as e:
                e.extensions.setdefault("attempts", attempts)
                raise
            u = completion.usage
            total.model = u.model
            total.prompt_tokens += u.prompt_tokens
            total.completion_tokens += u.completion_tokens
            total.latency_ms += u.latency_ms or (time.perf_counter() - started) * 1000
            budget.spend(u.prompt_tokens + u.completion_tokens)
            trace = {
                "kind": "call",
                "request_id": request_id,
                "field": root.key,
                "request": request,
                "model": u.model,
                "prompt_version": prompt_version(),
                "messages": messages,
                "prompt_length": prompt_length,
                "answer": completion.text,
                "latencyMs": u.latency_ms,
                "tokens": {"prompt": u.prompt_tokens, "completion": u.completion_tokens},
            }
            answer = " ".join(completion.text.split())
            repeated = answer in seen
            seen.add(answer)
            try:
                plan = validate_plan(self.catalog, parse_answer(self.catalog, completion.text), root)
                if plan.refuse is not None and _echoes(plan.refuse, request, messages[prompt_length:]):
                    raise PlanInvalid(
                        "the refusal repeats the gateway's error message",
                        errors=[
                            "that refusal repeats the error message; it is not a reason the request cannot be "
                            "served. Answer with the corrected plan"
                        ],
                    )
                copied = copied_examples(plan, request, self._example_texts(root))
                copied += field_names_as_text(self.catalog, plan)
                copied += unasked_fields(self.catalog, plan, request)
                if copied:
                    raise PlanInvalid("the plan is not what the request says: " + copied[0], errors=copied)
                invented = [] if root.readonly else invented_strings(self.catalog, plan, request, known)
                if invented:
                    raise InventedValue(
                        "the plan would store text that is not in the request: " + invented[0], errors=invented
                    )
                if _changes_nothing(root, plan):
                    only_read = plan
                    raise PlanInvalid(
                        "the plan only reads",
                        errors=[
                            f"mutation {root.name} changes data, but this plan only reads: plan the insert, "
                            "update or delete the request asks for (a request that states a fact, "
                            '"X is Y", sets that field of X), or refuse'
                        ],
                    )
                doubt = (
                    doubts(self.catalog, plan, request) if doubted is None and _attempt < self.settings.repairs else []
                )
                if doubt:
                    doubted, second_look = plan, True
                    raise PlanInvalid("the plan may not be what the request says: " + doubt[0], errors=doubt)
            except PlanInvalid as e:
                last_error = e
                self._trace(trace, plan=None, errors=e.extensions.get("errors", [e.message]))
                attempts.append({"answer": completion.text[:2000], "errors": e.extensions.get("errors", [e.message])})
                if budget.exhausted and doubted is not None:
                    break
                if budget.exhausted:
                    raise ModelBudgetExceeded(
                        "the request used up its model token budget while repairing the plan", attempts=attempts
                    ) from e
                if repeated:  # the model gives the same answer again: more repairs will not help
                    break
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.text},
                    {"role": "user", "content": _repair_message(e, second_look)},
                ]
                continue
            attempts.append({"answer": completion.text[:2000], "errors": []})
            return Planned(self._finish(root, plan, request, selection, trace), u.model, total, attempts, request_id)
        if doubted is not None:  # the second look gave nothing better: the valid plan stands
            return Planned(
                self._finish(root, doubted, request, selection, None), total.model, total, attempts, request_id
            )
        if only_read is not None:  # the last attempt only read: the policy refuses it with PLAN_REFUSED
            return Planned(only_read, total.model, total, attempts, request_id)
        error = InventedValue if isinstance(last_error, InventedValue) else PlanInvalid
        raise error(
            f"the model's plan was still invalid after {len(attempts)} attempts: "
            + "; ".join(attempts[-1]["errors"][:3]),
            attempts=attempts,
        )

    def _finish(self, root: RootField, plan: Plan, request: str, selection: str, trace: dict[str, Any] | None) -> Plan:
        """A valid plan made ready to run: grouped by the selection, its template parameters derived."""
        plan = self._group_by_selection(root, plan, selection)
        if not plan.params:
            plan.params = derive_params(plan, request)
        if trace is not None:
            self._trace(trace, plan=plan.dump(), errors=[])
        return plan

    def _group_by_selection(self, root: RootField, plan: Plan, selection: str) -> Plan:
        """Group an ungrouped count by the fields the client selects on its rows.

        A field returning rows of counts (``[TaskCount]`` with ``status`` and ``count``) whose
        client selects ``status`` wants one row per status: an aggregate without ``groupBy``
        would answer every row's ``status`` with null. Derived here, not asked of the model.
        """
        if root.models or plan.result is None or not plan.steps:
            return plan
        step = plan.steps[plan.result]
        if not isinstance(step, Aggregate) or step.groupBy:
            return plan
        model = self.catalog.models[step.model]
        aliases = {a.as_ for a in step.aggregates}
        wanted = [n for n in top_level_fields(selection) if n in model.fields and n not in aliases]
        if not wanted:
            return plan
        raw = plan.dump()
        raw["steps"][plan.result]["groupBy"] = wanted
        return validate_plan(self.catalog, parse_plan(raw), root)

    def _trace(self, entry: dict[str, Any], **more: Any) -> None:
        if self.traces is not None:
            self.traces.append({**entry, **more})

    def trace_outcome(self, request_id: str, outcome: str) -> None:
        """Record how the plan of ``request_id`` ran: ``ok`` or the error code."""
        if self.traces is not None and request_id:
            self.traces.append({"kind": "outcome", "request_id": request_id, "outcome": outcome})


def _echoes(reason: str, request: str, repairs: Sequence[Message]) -> bool:
    """Whether a refusal's reason is about the model's own answer, not the request: it copies a
    repair message the gateway sent, or speaks of JSON the request never mentions (a small
    model refused "projects that are not archived" with "the request is not valid JSON")."""
    said = " ".join(reason.lower().split())
    if "json" in said and "json" not in request.lower():
        return True
    return len(said) >= 12 and any(
        said in " ".join(m["content"].lower().split()) for m in repairs if m["role"] == "user"
    )


def _changes_nothing(root: RootField, plan: Plan) -> bool:
    """A Mutation field's plan that neither writes, calls a connector nor refuses."""
    return not root.readonly and plan.refuse is None and not plan.writes and all(s.op != "call" for s in plan.steps)


def _repair_message(error: PlanInvalid, second_look: bool) -> str:
    errors = error.extensions.get("errors") or [error.message]
    head = (
        "Check that plan against the request. Answer with the corrected JSON plan, or the same plan if it is right:\n"
        if second_look
        else "That plan was rejected. Fix these errors and answer with the corrected JSON plan only:\n"
    )
    return head + json.dumps(errors[:20], indent=1)


def top_level_fields(selection: str) -> list[str]:
    """The names selected at the top of a selection text such as ``status count project { name }``."""
    names, depth = [], 0
    for token in re.findall(r"[{}]|[^\s{}]+", selection):
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0:
            names.append(token)
    return names


def derive_params(plan: Plan, request: str) -> dict[str, Any]:
    """The plan's literals that the request spells out, named after the field they meet.

    The model is not asked for them: the cache turns them into a template's slots.
    """
    text = request.lower()
    words = set(re.findall(r"-?\d+(?:\.\d+)?", request))
    out: dict[str, Any] = {}
    for t in plan.tree:
        parts = (
            ([t.where] if t.where is not None else [])
            + [v for row in t.rows for v in row.values()]
            + list(t.set.values())
            + list(t.args.values())
        )
        for part in parts:
            for node in walk(part):
                name = node.field if isinstance(node, FieldTest) else None
                values = (
                    [node.value]
                    if isinstance(node, FieldTest) and isinstance(node.value, Literal)
                    else [node]
                    if isinstance(node, Literal) and name is None
                    else []
                )
                for lit in values:
                    v = lit.value
                    said = (isinstance(v, str) and len(v) > 1 and v.lower() in text) or (
                        isinstance(v, (int, float)) and not isinstance(v, bool) and str(v) in words
                    )
                    if said and v not in out.values():
                        key = name or lit.path.rsplit(".", 1)[-1].split("[")[0]
                        out[key if key not in out else f"{key}{len(out)}"] = v
    return out
