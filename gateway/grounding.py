"""Match a request's phrases to stored values and enum values the caller may read, at bounded cost.

Before the model plans, the words of the request ("books by Le Guin that are checked out") are
matched against the string columns the root field can filter and against enum values, so the
model learns that "Le Guin" is stored as ``Author.name "Ursula K. Le Guin"`` and that "checked
out" is ``Status CHECKED_OUT``. Neither the work nor the prompt grows with the data: at most
``limits.probes`` SQL statements (one per column, on the store's index of word suffixes,
``store/values.py``), each a range scan of at most ``limits.per_column`` rows for each of at
most ``limits.phrases`` phrases, case ignored; at most ``limits.hints`` hints.
Only columns the caller's roles may read (``@auth`` on the model and on the field) are probed,
and only through references the caller may follow, so a hint never carries a hidden value.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from .access import allowed
from .sdl import Catalog, Model, ModelField, RootField
from .store import values


@dataclass(frozen=True)
class GroundingLimits:
    """The caps that keep grounding's cost flat: SQL statements, phrases, hints, reach."""

    probes: int = 12          # SQL statements per request (one per probed column); 0 turns grounding off
    hints: int = 8            # hint lines given to the model
    phrases: int = 8          # phrases each probe looks up (one LIMITed index range scan each)
    per_column: int = 4       # values one probe may return per phrase (its LIMIT)
    hops: int = 2             # references followed from the root field's models
    value_chars: int = 80     # a longer stored value is cut in the hint


@dataclass(frozen=True)
class Match:
    """One hint: a phrase of the request and the stored or enum value it matched."""

    phrase: str
    value: str
    model: str | None = None     # stored value: Model.field
    field: str | None = None
    enum: str | None = None      # enum value: its enum type, and the readable fields using it
    used_by: tuple[str, ...] = ()
    exact: bool = False          # the whole value equals the phrase (ignoring case)
    rank: int = dataclasses.field(default=0, compare=False)  # its place among its column's values


STOPWORDS = frozenset("""
a about above after all an and any are as at be been before below between both but by can did
do does done each every few for from had has have having he her here hers him his how i if in
into is it its itself just me more most my no nor not now of off on once only or other our out
over own same she should so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who whom why will
with would you your yours show list find get give add set make create update delete remove
change please many much number count whose named called
""".split())

MAX_REQUEST_CHARS = 2000  # a longer request is grounded on its start: bounded work for any input
MAX_PHRASES = 48          # phrases that may label a hint (the first ``limits.phrases`` are probed)
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_QUOTED = re.compile(r"\"([^\"\n]{1,120})\"|“([^”\n]{1,120})”|‘([^’\n]{1,120})’|(?<!\w)'([^'\n]{1,120})'(?!\w)")


def ground(catalog: Catalog, engine: Engine, root: RootField, request: str, roles: Iterable[str],
           limits: GroundingLimits | None = None) -> list[Match]:
    """Hints for ``request``: enum values it names and stored values its phrases match."""
    limits = limits or GroundingLimits()
    roles = frozenset(roles)
    if limits.probes <= 0 or limits.hints <= 0 or not request.strip():
        return []
    models = readable_models(catalog, root, roles, limits.hops)
    matches = enum_matches(catalog, models, request, roles)
    phrases = candidate_phrases(request, _schema_words(catalog, models))
    if phrases:
        matches += _probe(engine, text_columns(models, roles)[:limits.probes], phrases, limits)
    return _best(matches, limits.hints)


def format_hints(matches: list[Match], value_chars: int = 80) -> str:
    """One line per match, phrase and value JSON-quoted, so a stored value reads as data."""
    if not matches:
        return "(none)"
    lines = []
    for m in matches:
        value = m.value if len(m.value) <= value_chars else m.value[:value_chars] + "…"
        if m.enum is not None:
            used = f" ({', '.join(m.used_by)})" if m.used_by else ""
            lines.append(f"- {_quote(m.phrase)} -> {m.enum} {m.value}{used}")
        else:
            lines.append(f"- {_quote(m.phrase)} -> {m.model}.{m.field} {_quote(value)}")
    return "\n" + "\n".join(lines)


def _quote(text: str) -> str:
    """JSON-quoted on one line; the request's own ``<<< >>>`` fence cannot be spelled inside."""
    return json.dumps(text, ensure_ascii=False).replace("<<<", "< < <").replace(">>>", "> > >")


# -- what may be probed ---------------------------------------------------------------------
def readable_models(catalog: Catalog, root: RootField, roles: frozenset[str], hops: int) -> list[Model]:
    """Models reachable from the field's return type through readable references, nearest first."""
    start = list(root.models) or list(catalog.models)
    seen: list[str] = []
    frontier = [n for n in start if allowed(roles, catalog.models[n].auth_roles)]
    for depth in range(hops + 1):
        nxt: list[str] = []
        for name in frontier:
            if name in seen:
                continue
            seen.append(name)
            if depth == hops:
                continue
            for f in catalog.models[name].fields.values():
                target = catalog.models.get(f.type_name)
                if (f.is_reference and target is not None and allowed(roles, f.auth_roles)
                        and allowed(roles, target.auth_roles)):
                    nxt.append(target.name)
        frontier = nxt
    return [catalog.models[n] for n in seen]


def text_columns(models: list[Model], roles: frozenset[str]) -> list[tuple[Model, ModelField]]:
    """String columns the caller may read; indexed ones (names, titles) first within each model."""
    out: list[tuple[Model, ModelField]] = []
    for model in models:
        cols = [f for f in model.fields.values()
                if f.kind == "scalar" and f.type_name == "String" and allowed(roles, f.auth_roles)]
        out += [(model, f) for f in sorted(cols, key=lambda f: not (f.index or f.unique))]
    return out


def _schema_words(catalog: Catalog, models: list[Model]) -> set[str]:
    """Words that name the schema, not data ("tasks", "title"): not worth a probe on their own."""
    words: set[str] = set()
    for m in models:
        for name in (m.name, *m.fields):
            w = name.lower()
            words |= {w, w + "s", w + "es", w[:-1] + "ies" if w.endswith("y") else w}
    return words


# -- phrases --------------------------------------------------------------------------------
def candidate_phrases(request: str, schema_words: set[str]) -> list[str]:
    """Quoted strings, capitalised runs, single words, then word pairs and triples, deduplicated.

    Probes take the head of this list: a value holding a pair of words also holds each word,
    so single words find it and the longest phrase it holds labels the hint.
    """
    out: dict[str, str] = {}  # lower case -> as written, in order

    def add(phrase: str) -> None:
        phrase = " ".join(phrase.split())
        if len(phrase) >= 2:
            out.setdefault(phrase.lower(), phrase)

    request = request[:MAX_REQUEST_CHARS]
    for m in _QUOTED.finditer(request):
        add(next(g for g in m.groups() if g is not None))
    words = _WORD.findall(request)
    run: list[str] = []
    for w in [*words, ""]:
        if w[:1].isupper() or (run and w[:1].isdigit()):
            run.append(w)
            continue
        if run and not (len(run) == 1 and run[0].lower() in STOPWORDS | schema_words):
            add(" ".join(run))
        run = []
    for n in (1, 2, 3):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            first, last = gram[0].lower(), gram[-1].lower()
            if first in STOPWORDS or last in STOPWORDS:
                continue
            if n == 1 and (len(first) < 3 or first in schema_words):
                continue
            add(" ".join(gram))
    return list(out.values())[:MAX_PHRASES]


# -- stored values --------------------------------------------------------------------------
def _probe(engine: Engine, columns: list[tuple[Model, ModelField]], phrases: list[str],
           limits: GroundingLimits) -> list[Match]:
    """One statement per column on the store's value index; each value labelled by its longest phrase."""
    labels = sorted(phrases, key=len, reverse=True)
    patterns = [(p, re.compile(rf"(?<!\w){re.escape(p)}(?!\w)", re.IGNORECASE)) for p in labels]
    found: list[Match] = []
    try:
        with engine.connect() as conn:
            for model, f in columns:
                for rank, value in enumerate(values.probe(conn, model.name, f.name, phrases[:limits.phrases],
                                                          limits.per_column)):
                    phrase = next((p for p, pattern in patterns if pattern.search(value)), None)
                    if phrase is not None:
                        found.append(Match(phrase, value, model.name, f.name,
                                           exact=phrase.lower() == value.lower(), rank=rank))
    except SQLAlchemyError:
        return found  # hints are a help, never a reason to fail the request
    return found


# -- enum values ----------------------------------------------------------------------------
def enum_matches(catalog: Catalog, models: list[Model], request: str, roles: frozenset[str]) -> list[Match]:
    """Enum values the request names ("checked out" -> CHECKED_OUT), on readable fields only."""
    used: dict[str, list[str]] = {}
    for model in models:
        for f in model.fields.values():
            if f.kind == "enum" and allowed(roles, f.auth_roles):
                used.setdefault(f.type_name, []).append(f"{model.name}.{f.name}")
    words = re.findall(r"[^\W_]+", request[:MAX_REQUEST_CHARS])
    lowered = [w.lower() for w in words]
    out: list[Match] = []
    for enum, fields in used.items():
        names = {enum.lower(), *(f.split(".")[1].lower() for f in fields)}
        for value in catalog.enums[enum]:
            parts = [p for p in value.lower().split("_") if p]
            for i in range(len(lowered) - len(parts) + 1):
                if lowered[i:i + len(parts)] != parts:
                    continue
                start, end = i, i + len(parts)
                if end < len(lowered) and lowered[end] in names:  # "high priority"
                    end += 1
                elif start > 0 and lowered[start - 1] in names:   # "status done"
                    start -= 1
                out.append(Match(" ".join(words[start:end]), value, enum=enum, used_by=tuple(fields), exact=True))
                break
    return out


def _best(matches: list[Match], cap: int) -> list[Match]:
    """Whole-value matches first, then longer phrases, then each column's first values; one hint per value.

    Taking columns in turn (nearest model first) keeps one common word from filling every hint
    with values of one column.
    """
    ranked = sorted(matches, key=lambda m: (not m.exact, -len(m.phrase), m.rank))
    out: list[Match] = []
    seen: set[tuple[str | None, str | None, str | None, str]] = set()
    for m in ranked:
        key = (m.enum, m.model, m.field, m.value)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out[:cap]
