"""Doubts about a valid plan that the model is asked to look at once more, not refusals.

Some plans are valid and still read the request wrongly in ways the gateway can see: creation
order where the request asks for a stored date ("authors from oldest to youngest", "the three
most recently hired"), a count of the very record the request names ("how many people work
in the Platform team" counted one Team), or an enum value the request says that the plan never
uses ("promote Aiko Tanaka to senior" wrote "Senior" into the title, not the level). Synonyms exist, so none of these is an error: the
first answer that raises one goes back once with the doubt, and whatever the model answers
next is judged by the ordinary checks only (the same plan again is accepted).
"""

from __future__ import annotations

import re

from .plan import Aggregate, Find, Plan
from .plan.nodes import CREATED, FieldRef, FieldTest, Literal, walk
from .policy import parts
from .sdl import Catalog, Model
from .vocabulary import name_words

# Words that ask for creation order: "the book added last", "the first three created".
_CREATION_WORDS = ("creat", "added", "add ", "entered", "inserted", "joined")
# Words that ask for an age order without naming a field: "newest", "oldest to youngest".
_AGE_WORDS = re.compile(r"\b(?:newest|oldest|latest|earliest|youngest|most\s+recent(?:ly)?|recent)\b", re.I)
_DATE_NAME = re.compile(r"(?:On|At|Date|Day|Time)$|^(?:born|birth|year)", re.I)
# Dates ahead of a record ("dueDate") say nothing about how new it is.
_FUTURE_NAME = re.compile(r"due|deadline|end|expir|until|valid", re.I)


def doubts(catalog: Catalog, plan: Plan, request: str) -> list[str]:
    """What the model should look at again before the plan runs (empty: nothing)."""
    if plan.refuse is not None:
        return []
    return [
        *_creation_order(catalog, plan, request),
        *_said_values_unused(catalog, plan, request),
        *_count_of_the_named_record(catalog, plan),
    ]


def _said_values_unused(catalog: Catalog, plan: Plan, request: str) -> list[str]:
    """Enum values the request says as words that the plan never uses ("neither shipped nor
    cancelled" kept only CANCELLED; "promote Aiko to senior" wrote "Senior" into a text field).
    A value inside a longer name the plan uses ("Garden Hose") is that name, not the value."""
    words = " " + " ".join(re.findall(r"[a-z0-9]+", request.lower())) + " "
    literals = [n.value for t in plan.tree for part in parts(t) for n in walk(part) if isinstance(n, Literal)]
    texts = [v.lower() for v in literals if isinstance(v, str)]
    used = set(map(str, literals))
    out = []
    for enum, values in catalog.enums.items():
        for value in values:
            spoken = " ".join(value.lower().split("_"))
            if value in used or f" {spoken} " not in words:
                continue
            if any(spoken in text and spoken != text.strip() for text in texts):
                continue
            out.append(
                f"the request says {spoken!r}, which is the {enum} value {value}, and the plan never uses "
                f"{value}; use it where the request means it, or answer the same plan again"
            )
    return out


def _creation_order(catalog: Catalog, plan: Plan, request: str) -> list[str]:
    """Creation order where the request asks for a date the records store."""
    text = request.lower() + " "
    if any(w in text for w in _CREATION_WORDS):
        return []
    words = set(re.findall(r"[a-z]+", text))
    out = []
    for step, t in zip(plan.steps, plan.tree, strict=True):
        if not isinstance(step, (Find, Aggregate)) or step.model not in catalog.models:
            continue
        for item in t.order:
            if not (isinstance(item.expr, FieldRef) and item.expr.dotted == CREATED):
                continue
            dates = _dated_fields(catalog.models[step.model])
            named = [f for f in dates if any(_stem_match(w, words) for w in name_words(f) if len(w) > 2)]
            past = [f for f in dates if not _FUTURE_NAME.search(f)]
            if not named and _AGE_WORDS.search(request) and len(past) == 1:
                named = past
            if named:
                direction = "desc" if item.descending else "asc"
                out.append(
                    f'{item.path}: "{CREATED}" is the order records were added in, and the request never says '
                    f'added or created; it asks about {named[0]}: write {{"field": "{named[0]}", "direction": '
                    f'"{direction}"}} instead'
                )
    return out


def _dated_fields(model: Model) -> list[str]:
    return [n for n, f in model.fields.items() if f.kind == "scalar" and _DATE_NAME.search(n)]


def _stem_match(part: str, words: set[str]) -> bool:
    """A word of the request that shares the first letters of a field's name word ("hired", hiredOn)."""
    part = part.lower()
    return any(w[:4] == part[:4] and len(w) >= 4 and len(part) >= 4 for w in words)


def _count_of_the_named_record(catalog: Catalog, plan: Plan) -> list[str]:
    """An ungrouped count of records picked by their own name: at most one, rarely the question."""
    if plan.result is None or not plan.steps:
        return []
    step, t = plan.steps[plan.result], plan.tree[plan.result]
    if not isinstance(step, Aggregate) or step.groupBy or t.where is None:
        return []
    if any(a.fn != "count" for a in step.aggregates) or not isinstance(t.where, FieldTest):
        return []
    test = t.where
    model = catalog.models.get(step.model)
    if model is None or test.op != "eq" or not isinstance(test.value, Literal) or not isinstance(test.value.value, str):
        return []
    if model.fields.get(test.field) is None or model.fields[test.field].type_name not in ("String", "ID"):
        return []
    referrers = [
        f"{other.name} (through {name})"
        for other in catalog.models.values()
        for name, f in other.fields.items()
        if f.is_reference and f.type_name == model.name
    ]
    if not referrers:
        return []
    return [
        f"{test.path}: this counts the {model.name} records named {test.value.value!r} (one); to count what belongs "
        f"to it, aggregate the model that refers to it, {', '.join(referrers[:3])}, and filter through that "
        "reference; or answer the same plan again if this is the question"
    ]
