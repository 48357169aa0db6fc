"""What a right answer is: result sets, values and store states computed from the seed by hand.

Each expectation is plain Python over the seed data (never the gateway's plan, never its SQL),
so the eval stays valid whatever shape the plan language takes. ``check`` returns ``None``
for a right answer and a short reason otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Data = dict[str, list[dict[str, Any]]]


@dataclass
class Outcome:
    """What one request did: the field's value, its errors and the store afterwards."""

    result: Any
    codes: list[str | None]  # extensions.code of every error (None where an error had no code)
    messages: list[str]
    unchanged: bool  # the store equals the seed after the request
    matches_state: Callable[[Data], str | None]  # compare the store with an expected state

    @property
    def clean(self) -> str | None:
        """Why a request that should have succeeded did not, or None."""
        if self.codes:
            return f"errors {self.codes}: {self.messages[0][:160]}"
        return None


class Expectation:
    """Base: a read must leave the store as it was."""

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        raise NotImplementedError

    def expected_state(self, seed: Data) -> Data:
        return seed

    def _read_ok(self, outcome: Outcome) -> str | None:
        if outcome.clean:
            return outcome.clean
        if not outcome.unchanged:
            return "a read changed the store"
        return None


def _ids(result: Any) -> list[Any] | None:
    if not isinstance(result, list) or not all(isinstance(r, dict) and "id" in r for r in result):
        return None
    return [r["id"] for r in result]


def _id_list(items: Iterable[Any]) -> list[str]:
    return [i["id"] if isinstance(i, dict) else i for i in items]


@dataclass
class Rows(Expectation):
    """The field returns exactly these records, in any order."""

    fn: Callable[[Data], Iterable[Any]]

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if why := self._read_ok(outcome):
            return why
        got, want = _ids(outcome.result), sorted(_id_list(self.fn(seed)))
        if got is None:
            return f"not a list of records: {str(outcome.result)[:120]}"
        if sorted(got) != want or len(got) != len(set(got)):
            return f"ids {sorted(got)} != expected {want}"
        return None


@dataclass
class Ordered(Expectation):
    """The field returns these records in this order; with ``first`` only the first n must match
    (ties after them), and the list must hold ``length`` records when given."""

    fn: Callable[[Data], Iterable[Any]]
    first: int | None = None
    length: int | None = None

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if why := self._read_ok(outcome):
            return why
        got, want = _ids(outcome.result), _id_list(self.fn(seed))
        if got is None:
            return f"not a list of records: {str(outcome.result)[:120]}"
        if self.length is not None and len(got) != self.length:
            return f"{len(got)} records, expected {self.length}"
        n = self.first if self.first is not None else len(want)
        if got[:n] != want[:n] or (self.first is None and len(got) != len(want)):
            return f"order {got} != expected {want[:n]}" + (" first" if self.first is not None else "")
        return None


@dataclass
class One(Expectation):
    """A single-record field returns this record (or null when ``fn`` gives None)."""

    fn: Callable[[Data], Any]

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if why := self._read_ok(outcome):
            return why
        want = self.fn(seed)
        want_id = want["id"] if isinstance(want, dict) else want
        got = outcome.result["id"] if isinstance(outcome.result, dict) else outcome.result
        return None if got == want_id else f"record {got!r} != expected {want_id!r}"


@dataclass
class Value(Expectation):
    """A scalar field (a count, a sum, an average) returns this number."""

    fn: Callable[[Data], float | int | None]
    tolerance: float = 0.005

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if why := self._read_ok(outcome):
            return why
        want, got = self.fn(seed), outcome.result
        if want is None or got is None:
            return None if want is got else f"{got!r} != expected {want!r}"
        if not isinstance(got, (int, float)) or abs(got - want) > self.tolerance * max(1.0, abs(want)):
            return f"{got!r} != expected {want!r}"
        return None


@dataclass
class Groups(Expectation):
    """A list of group rows: the set of (key..., count) tuples must match."""

    keys: tuple[str, ...]
    fn: Callable[[Data], Iterable[tuple[Any, ...]]]
    count: str = "count"

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if why := self._read_ok(outcome):
            return why
        if not isinstance(outcome.result, list):
            return f"not a list: {str(outcome.result)[:120]}"
        got = sorted((tuple(r.get(k) for k in self.keys) + (r.get(self.count),) for r in outcome.result), key=repr)
        want = sorted(self.fn(seed), key=repr)
        return None if got == want else f"groups {got} != expected {want}"


@dataclass
class Writes(Expectation):
    """After the request the store equals the seed changed by ``fn`` (which edits a copy in place).

    New records take any id not in the seed (``new("Book", ...)`` below): ids the gateway
    generates are masked on both sides before comparing.
    """

    fn: Callable[[Data], None]

    def expected_state(self, seed: Data) -> Data:
        data = copy.deepcopy(seed)
        self.fn(data)
        return data

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if outcome.clean:
            return outcome.clean
        return outcome.matches_state(self.expected_state(seed))


# Codes that say the model or the store could not be reached in time: not a refusal.
UNANSWERED = frozenset({"MODEL_TIMEOUT", "MODEL_UNAVAILABLE", "MODEL_RATE_LIMITED", "MODEL_AUTH",
                        "MODEL_BUDGET_EXCEEDED", "STORE_ERROR"})


@dataclass
class Refusal(Expectation):
    """The gateway must refuse: the field ends with a coded error and nothing is written.

    A timeout or an unreachable model is not a refusal, so those codes do not count."""

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        if not outcome.unchanged:
            return "the store changed"
        if not outcome.codes:
            return f"answered without an error: {str(outcome.result)[:120]}"
        if not all(outcome.codes):
            return f"an error without extensions.code: {outcome.messages[0][:120]}"
        if set(outcome.codes) <= UNANSWERED:
            return f"no answer from the model ({', '.join(sorted(set(outcome.codes)))}), not a refusal"
        return None


@dataclass
class Custom(Expectation):
    """A read checked by a hand-written function of (result, seed) giving None or a reason."""

    fn: Callable[[Any, Data], str | None]

    def check(self, outcome: Outcome, seed: Data) -> str | None:
        return self._read_ok(outcome) or self.fn(outcome.result, seed)


# -- helpers for writing expectations over seed data ---------------------------------------
def one(data: Data, model: str, **eq: Any) -> dict[str, Any]:
    """The one record of ``model`` whose fields equal ``eq`` (a case-writing error otherwise)."""
    found = [r for r in data[model] if all(r.get(k) == v for k, v in eq.items())]
    if len(found) != 1:
        raise LookupError(f"{len(found)} {model} records match {eq}")
    return found[0]


def get(data: Data, model: str, rec_id: str | None) -> dict[str, Any] | None:
    """A record by id (None for a missing reference)."""
    return next((r for r in data[model] if r["id"] == rec_id), None) if rec_id else None


def new(data: Data, model: str, **values: Any) -> dict[str, Any]:
    """Append a record the request should create; its id only has to be new."""
    record = {"id": f"new:{model}:{len(data[model])}", **values}
    data[model].append(record)
    return record


def remove(data: Data, model: str, pred: Callable[[dict[str, Any]], bool]) -> None:
    data[model] = [r for r in data[model] if not pred(r)]
