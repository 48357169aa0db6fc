"""Templates: a plan whose listed literals become typed slots bound from a later request.

A template is made from a request and the plan that answered it, and only when every rule
below holds, so it never binds more than the request says:

- each ``params`` literal occurs exactly once in the request (as a whole word or phrase, case
  as written) and at exactly one *value position* of the plan: a ``Literal`` node of its typed
  tree (a filter operand, an inserted or set value, a connector argument, an argument of a
  function such as ``concat`` or ``addDays``, a side of a ``compare``, a ``byKey`` or
  ``respectively`` value). Never ``limit``/``offset``, never a name (a field, a function, a
  step, a ``byKey`` key), never an ``isNull`` flag; a literal the plan does not list in
  ``params`` stays fixed text of the plan;
- a slot has the type of its literal: an integer slot takes only an integer, a date slot only
  an ISO date, a text slot the same number of words (any text between the same quotes);
- binding the template to its own request gives back the plan exactly.

Positions are found on the plan's typed nodes (:attr:`gateway.plan.Plan.tree`) with the plan
language's one visitor; each node's path says where its literal sits in the plan's JSON, which
is what a slot binds, so a stored template is plain JSON. The fixed text of a template matches
case-sensitively: "ALPHA" is not "Alpha".
"""

from __future__ import annotations

import copy
import math
import re
import string
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from ..errors import PlanInvalid
from ..plan import StepTree, parse_plan
from ..plan.nodes import FieldTest, Literal, Node
from ..plan.visitor import Visitor
from .entry import CacheEntry, PathItem, Slot, _set

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
PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def normalise(request: str) -> str:
    """Collapse whitespace and drop trailing punctuation; case is kept."""
    return " ".join(request.split()).rstrip(" .!?;:,")


class _Positions(Visitor):
    """Collects the literals under a step's typed nodes, each with its node path.

    The visitor walks through expressions (a ``concat`` argument, the right side of a
    ``compare``, a ``byKey`` value...) like any other node; names are never ``Literal`` nodes
    (fields, functions, steps, ``byKey`` keys), and an ``isNull`` flag is not a value.
    """

    def __init__(self) -> None:
        self.found: list[Literal] = []

    def visit_FieldTest(self, node: FieldTest, scope: Any = None) -> None:
        if node.op != "isNull":
            self.visit(node.value, scope)

    def visit_Literal(self, node: Literal, scope: Any = None) -> None:
        self.found.append(node)


def _roots(t: StepTree) -> Iterator[Node]:
    """The typed parts of one step that hold values: filter, rows, set, arguments, orderings, measures."""
    if t.where is not None:
        yield t.where
    for row in t.rows:
        yield from row.values()
    yield from t.set.values()
    yield from t.args.values()
    yield from t.order
    yield from (m.expr for m in t.measures if m.expr is not None)


def json_path(node_path: str) -> list[PathItem]:
    """A node's path (``steps[0].set.email.args[1]``) as keys and indexes into the plan's JSON."""
    return [int(index) if index else key for key, index in PATH_PART.findall(node_path)]


def _get(doc: Any, path: list[PathItem]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def value_positions(plan: dict[str, Any]) -> Iterator[tuple[list[PathItem] | None, Any]]:
    """Every literal a request could have named, with its path in the plan's JSON.

    Found on the plan's typed nodes with the shared visitor; a path that does not lead back to
    its literal in the JSON (a ``byKey`` key written with a dot) comes as None: the literal
    still counts as a position, but no slot can bind it. An embedded object's value yields
    each of its leaves.
    """
    try:
        tree = parse_plan(plan).tree
    except PlanInvalid:
        return
    for t in tree:
        finder = _Positions()
        for root in _roots(t):
            finder.visit(root)
        for node in finder.found:
            path = json_path(node.path)
            try:
                found = _get(plan, path)
            except (KeyError, IndexError, TypeError):
                found = _MISSING
            if not _same(found, node.value):
                yield None, node.value
            else:
                yield from _data_leaves(node.value, path)


_MISSING = object()


def _data_leaves(value: Any, path: list[PathItem]) -> Iterator[tuple[list[PathItem] | None, Any]]:
    """The scalar leaves of a literal's value (an embedded object's fields, a list's items)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _data_leaves(v, [*path, k])
    elif isinstance(value, list):
        for j, v in enumerate(value):
            yield from _data_leaves(v, [*path, j])
    elif value is not None:
        yield path, value


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
        if len(where) != 1 or where[0] is None or not lit.strip() or lit != lit.strip():
            return None
        found = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(lit)}(?!\w)", text)]
        if len(found) != 1:
            return None
        name = param if SLOT_NAME.fullmatch(param) else f"slot{i}"
        if name in slots:
            return None
        a, b = found[0]
        before, after = text[a - 1 : a], text[b : b + 1]
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
