"""Templates: a plan whose listed literals become typed slots bound from a later request.

A template is made from a request and the plan that answered it, and only when every rule
below holds, so it never binds more than the request says:

- each ``params`` literal occurs exactly once in the request (as a whole word or phrase, case
  as written) and at exactly one *value position* of the plan: a filter operand, an inserted
  or set value, a connector argument. Never ``limit``/``offset``, never a name, never inside
  an expression or step reference (objects with ``fn``, ``field`` or ``$step``);
- a slot has the type of its literal: an integer slot takes only an integer, a date slot only
  an ISO date, a text slot the same number of words (any text between the same quotes);
- binding the template to its own request gives back the plan exactly.

Everything works on the plan's JSON (``Plan.dump()``), so templates do not depend on the
plan's Python classes. The fixed text of a template matches case-sensitively: "ALPHA" is not
"Alpha".
"""

from __future__ import annotations

import copy
import math
import re
import string
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .entry import CacheEntry, PathItem, Slot, _set

#: step keys whose contents are values a request can name
VALUE_ROOTS = ("where", "values", "set", "args")
#: keys under which nothing is a request's literal (sizes, names, structure)
NOT_VALUES = frozenset({"limit", "offset", "isNull", "orderBy", "groupBy", "aggregates", "op", "model",
                        "connector", "direction", "as", "result", "step", "$step", "field", "fn"})
#: an object with one of these keys is an expression, a computed comparison or a reference, not a literal
EXPRESSION_KEYS = frozenset({"fn", "field", "$step", "$param", "if", "compare"})
QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`"}
WORD = r"[^\s,;:!?()\"“”‘’`{}]+"
PATTERNS = {
    "bool": r"true|false",
    "int": r"[-+]?\d{1,18}",
    "float": r"[-+]?\d{1,18}(?:\.\d{1,18})?",
    "date": r"\d{4}-\d{2}-\d{2}",
    "datetime": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?",
}
DATE = re.compile(PATTERNS["date"])
DATETIME = re.compile(PATTERNS["datetime"])
SLOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def normalise(request: str) -> str:
    """Collapse whitespace and drop trailing punctuation; case is kept."""
    return " ".join(request.split()).rstrip(" .!?;:,")


def value_positions(plan: dict[str, Any]) -> Iterator[tuple[list[PathItem], Any]]:
    """Every literal a request could have named, with its path in the plan's JSON."""
    for i, step in enumerate(plan.get("steps") or []):
        if not isinstance(step, dict):
            continue
        for key in VALUE_ROOTS:
            if key in step:
                yield from _leaves(step[key], ["steps", i, key])


def _leaves(node: Any, path: list[PathItem]) -> Iterator[tuple[list[PathItem], Any]]:
    if isinstance(node, dict):
        if EXPRESSION_KEYS & node.keys():
            return
        for k, v in node.items():
            if k not in NOT_VALUES:
                yield from _leaves(v, [*path, k])
    elif isinstance(node, list):
        for j, v in enumerate(node):
            yield from _leaves(v, [*path, j])
    elif node is not None:
        yield path, node


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def slot_type(value: Any, quoted: bool) -> str:
    """The kind of literal a slot takes: the kind of the literal it replaced."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if DATE.fullmatch(value):
        return "date"
    if DATETIME.fullmatch(value):
        return "datetime"
    return "quoted" if quoted else "text"


def convert(raw: str, kind: str) -> Any:
    """A captured text as the slot's type; ValueError when it is not one."""
    if kind == "bool":
        return raw.lower() == "true"
    if kind == "int":
        return int(raw)
    if kind == "float":
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    return raw


def make_template(text: str, plan: dict[str, Any]) -> tuple[str, dict[str, Slot]] | None:
    """The template text and slots for a request and its plan, or None when a rule fails.

    ``text`` is the normalised request. The template text holds ``{slot}`` where a slot's
    literal was (other braces doubled, as in ``str.format``).
    """
    params = plan.get("params") or {}
    if not params or not isinstance(params, dict):
        return None
    positions = list(value_positions(plan))
    slots: dict[str, Slot] = {}
    spans: list[tuple[int, int, str]] = []
    for i, (param, value) in enumerate(params.items()):
        if not isinstance(value, (str, int, float, bool)):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        where = [p for p, v in positions if _same(v, value)]
        lit = _literal_text(value)
        if len(where) != 1 or not lit.strip() or lit != lit.strip():
            return None
        found = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(lit)}(?!\w)", text)]
        if len(found) != 1:
            return None
        name = param if SLOT_NAME.fullmatch(param) else f"slot{i}"
        if name in slots:
            return None
        a, b = found[0]
        before, after = text[a - 1:a], text[b:b + 1]
        quoted = a > 0 and before in QUOTES and QUOTES[before] == after
        slots[name] = Slot(param=param, path=where[0], type=slot_type(value, quoted), words=len(lit.split(" ")))
        spans.append((a, b, name))
    spans.sort()
    if any(spans[k][1] > spans[k + 1][0] for k in range(len(spans) - 1)):
        return None
    shown, pos = "", 0
    for a, b, name in spans:
        shown += _escape(text[pos:a]) + "{" + name + "}"
        pos = b
    shown += _escape(text[pos:])
    try:
        rebound = bind_plan(shown, slots, plan, text)
    except (ValueError, KeyError, IndexError, TypeError, re.error):
        return None
    if rebound != plan:  # the template must give back its own plan exactly
        return None
    return shown, slots


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@lru_cache(maxsize=4096)
def _pattern(text: str, kinds: tuple[tuple[str, str, int], ...]) -> re.Pattern[str]:
    """The regular expression of a template text; ``kinds`` is (slot, type, words) per slot."""
    by_name = {name: (kind, words) for name, kind, words in kinds}
    out = ""
    quote_open = ""
    for literal, name, spec, conv in string.Formatter().parse(text):
        out += re.escape(literal)
        if name is None:
            continue
        if spec or conv or name not in by_name:
            raise ValueError(f"bad slot {{{name}}} in template text")
        kind, words = by_name[name]
        quote_open = literal[-1:] if literal else ""
        if kind == "quoted" and quote_open in QUOTES:
            body = f"[^{re.escape(QUOTES[quote_open])}]+"
        elif kind in PATTERNS:
            body = PATTERNS[kind]
        else:
            body = WORD + (rf"(?: {WORD}){{{words - 1}}}" if words > 1 else "")
        out += f"(?P<{name}>{body})"
    return re.compile(out)


def bind_plan(text: str, slots: dict[str, Slot], plan: dict[str, Any], request: str) -> dict[str, Any] | None:
    """The plan with the values ``request`` puts in the slots, or None when it does not match."""
    kinds = tuple(sorted((n, s.type, s.words) for n, s in slots.items()))
    match = _pattern(text, kinds).fullmatch(request)
    if match is None:
        return None
    out = copy.deepcopy(plan)
    for name, slot in slots.items():
        value = convert(match.group(name), slot.type)
        _set(out, slot.path, value)
        out.setdefault("params", {})[slot.param] = value
    return out


def bind(entry: CacheEntry, request: str) -> dict[str, Any] | None:
    """A template entry's plan for this (normalised) request, or None when it does not fit."""
    try:
        return bind_plan(entry.text, entry.slots, entry.plan, request)
    except (ValueError, KeyError, IndexError, TypeError, re.error):
        return None
