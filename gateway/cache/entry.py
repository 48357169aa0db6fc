"""The typed cache entry: one stored plan, exact or template, with its review status.

An entry is stored as JSON (in the store, Redis, memory or a lock file); ``CacheEntry.parse``
refuses anything that is not a complete entry of this version, so a stale or foreign row is
skipped instead of served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["exact", "template"]
#: ``learned``: ran well once; ``approved``: a developer said yes (shared with every caller);
#: ``rejected`` / ``wrong``: never served again nor used as an example.
STATUSES = ("learned", "approved", "rejected", "wrong")
SERVABLE = ("learned", "approved")
PathItem = str | int


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (ids, plan identities)."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Slot:
    """One template parameter: where it sits in the plan and what kind of literal it takes."""

    param: str  # the name in the plan's ``params``
    path: list[PathItem]  # the one value position in the plan's JSON it binds
    type: str  # int | float | bool | date | datetime | quoted | text
    words: int = 1  # a text slot takes this many words

    @classmethod
    def parse(cls, data: Any) -> Slot:
        if not isinstance(data, dict):
            raise ValueError("a slot is an object")
        path = data.get("path")
        if not isinstance(path, list) or not all(isinstance(p, (str, int)) for p in path) or len(path) < 3:
            raise ValueError("a slot's path is a list of keys and indexes into the plan")
        words = data.get("words", 1)
        if not isinstance(words, int) or words < 1:
            raise ValueError("a slot's words is a positive integer")
        return cls(param=str(data["param"]), path=list(path), type=str(data["type"]), words=words)


@dataclass
class CacheEntry:
    """A stored plan and everything needed to decide whether it answers a request."""

    id: str
    kind: Kind
    field: str  # the root field key, ``query.tasks``
    scope: str  # digest of field, relevant selection and hints
    text: str  # exact: the normalised request; template: the request with ``{slot}`` holes
    request: str  # the request that taught it
    plan: dict[str, Any]  # the plan as JSON (a template's plan holds the teaching request's values)
    selection: str = ""
    hints: dict[str, Any] = dataclasses.field(default_factory=dict)
    deps: list[str] = dataclasses.field(default_factory=list)
    fingerprint: str = ""
    created: float = 0.0
    day: str | None = None  # a plan that used today's date is reused only on that day
    slots: dict[str, Slot] = dataclasses.field(default_factory=dict)
    owner: str | None = None  # the caller (API key digest) whose request taught it
    writes: bool = False
    status: str = "learned"
    pinned: bool = False
    rejected_plans: list[str] = dataclasses.field(default_factory=list)  # plan digests a developer refused here

    @property
    def servable(self) -> bool:
        return self.status in SERVABLE

    @property
    def literal(self) -> int:
        """Length of a template's fixed text: the more specific template is tried first."""
        return len(self.text) - sum(len(s) + 2 for s in self.slots)

    def shared_with(self, caller: str | None) -> bool:
        """Write templates serve only their teacher until a developer approves them."""
        return not (self.kind == "template" and self.writes) or self.status == "approved" or self.owner == caller

    def plan_digest(self) -> str:
        """The identity of what this entry does (a template's slot values left out)."""
        plan = json.loads(json.dumps(self.plan))
        for slot in self.slots.values():
            _set(plan, slot.path, None)
            plan.get("params", {}).pop(slot.param, None)
        return digest(plan)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def parse(cls, raw: str | dict[str, Any]) -> CacheEntry:
        """An entry from its JSON; ValueError when it is not one (an older format, a typo)."""
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        if not isinstance(data, dict):
            raise ValueError("an entry is a JSON object")
        try:
            slots = {str(k): Slot.parse(v) for k, v in (data.pop("slots", None) or {}).items()}
            entry = cls(slots=slots, **data)
        except (TypeError, KeyError) as e:
            raise ValueError(f"not a cache entry: {e}") from e
        if entry.kind not in ("exact", "template") or entry.status not in STATUSES:
            raise ValueError(f"unknown kind {entry.kind!r} or status {entry.status!r}")
        if not isinstance(entry.plan, dict) or not isinstance(entry.plan.get("steps"), list):
            raise ValueError("an entry's plan is a plan object with steps")
        if entry.kind == "template" and not entry.slots:
            raise ValueError("a template has slots")
        return entry


def _set(doc: Any, path: list[PathItem], value: Any) -> None:
    """Set the value at ``path`` in a JSON document; KeyError/IndexError/TypeError if absent."""
    node = doc
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if isinstance(node, dict):
        if last not in node:
            raise KeyError(last)
    elif not isinstance(node, list) or not isinstance(last, int):
        raise TypeError(f"no position {path}")
    node[last] = value
