"""Cases and suites: a request on one field of one schema, and what a right answer is.

A suite is a schema, a seed (in the seed format of `gateway import`) and its cases. Seed
strings ``@today``, ``@today+N`` and ``@today-N`` become ISO dates when the suite loads, so
requests such as "due within a week" keep a non-empty answer whatever day the eval runs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .expect import Data, Expectation

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

CATEGORIES = {
    "text": "lookups and string matches on a field",
    "enum": "filters on enum and boolean values",
    "range": "numeric and date ranges",
    "negation": "not, none, without",
    "relation": "filters through references, both ways",
    "scalar_list": "lists of scalars: contains, none, add and remove",
    "order": "ordering and top-n",
    "aggregate": "counts, sums, averages, min and max",
    "group": "counts per group",
    "create": "inserts, with references looked up",
    "update": "updates, by name or through references",
    "delete": "deletes, by name or through references",
    "computed_write": "values computed from the row (issue 10)",
    "numbering": "numbering in creation or another order (issue 10)",
    "respectively": "a list of values matched to records in order (issue 10)",
    "computed_read": "reads over computed values (issue 10)",
    "creation_order": "first, last, newest by creation order (issue 10)",
    "refuse": "the contract cannot serve it, or it means nothing: coded error, store unchanged",
    "injection": "prompt injection in the request: coded error, store unchanged",
    "stored_injection": "an instruction hidden in stored data: the right answer, nothing else",
}


@dataclass(frozen=True)
class Case:
    category: str
    operation: str  # query | mutation
    field: str
    request: str
    expect: Expectation
    selection: str = "id"
    suite: str = ""
    id: str = ""

    def document(self) -> str:
        sel = f" {{ {self.selection} }}" if self.selection else ""
        return f"{self.operation} Eval($q: String!) {{ {self.field}(q: $q){sel} }}"


def q(category: str, field_name: str, request: str, expect: Expectation, selection: str = "id") -> Case:
    """A Query case."""
    return Case(category, "query", field_name, request, expect, selection)


def m(category: str, field_name: str, request: str, expect: Expectation, selection: str = "id") -> Case:
    """A Mutation case."""
    return Case(category, "mutation", field_name, request, expect, selection)


@dataclass
class Suite:
    name: str
    schema: Path
    seed: Data
    cases: list[Case] = field(default_factory=list)


def load_seed(path: Path, today: dt.date | None = None) -> Data:
    """Read a seed file, turning ``@today±N`` strings into ISO dates."""
    today = today or dt.date.today()

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and (match := re.fullmatch(r"@today([+-]\d+)?", value)):
            return (today + dt.timedelta(days=int(match.group(1) or 0))).isoformat()
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve(json.loads(path.read_text(encoding="utf-8")))


def make_suite(name: str, schema: Path, cases: list[Case]) -> Suite:
    """A suite with its seed from ``seeds/<name>.json`` and ids ``<suite>/<words of the request>``."""
    seen: set[str] = set()
    named = []
    for case in cases:
        if case.category not in CATEGORIES:
            raise ValueError(f"{name}: unknown category {case.category!r}")
        slug = "-".join(re.findall(r"[a-z0-9]+", case.request.lower()))[:48].strip("-")
        case_id, n = f"{name}/{slug}", 2
        while case_id in seen:
            case_id, n = f"{name}/{slug}-{n}", n + 1
        seen.add(case_id)
        named.append(Case(case.category, case.operation, case.field, case.request, case.expect,
                          case.selection, name, case_id))
    return Suite(name, schema, load_seed(HERE / "seeds" / f"{name}.json"), named)
