"""Store state for scoring: records in a comparable form, the difference, and invented strings.

The store is read back in the seed format (``gateway.seed.export_records``, what `gateway
export` writes) and compared with an expected state computed from the seed. Only the fields
the SDL declares count (a hidden column the gateway keeps, such as creation order, does not);
ids the gateway generated for new records are masked, since no expectation can know them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.sdl import Catalog  # internal: the store comparison reads field kinds from the catalogue

Data = dict[str, list[dict[str, Any]]]
NEW = "<new>"
NUMERIC = {"Int", "Float", "Boolean", "ID"}


def norm_text(value: str) -> str:
    """Strings are compared ignoring case and spacing (as the gateway's grounding check does)."""
    return re.sub(r"\s+", "", value.lower())


class StoreShape:
    """How one catalog's records are normalised, compared and searched for invented strings."""

    def __init__(self, catalog: Catalog, seed: Data) -> None:
        self.catalog = catalog
        self.known_ids = {r["id"] for rows in seed.values() for r in rows}
        self.enum_values = {v for values in catalog.enums.values() for v in values}

    def normalize(self, data: Data) -> dict[str, list[dict[str, Any]]]:
        data = self._links_on_owning_side(data)
        out = {}
        for name, model in self.catalog.models.items():
            rows = []
            for record in data.get(name, []):
                row = {}
                for key, value in record.items():
                    f = model.fields.get(key)
                    if f is None or value is None or value == []:
                        continue
                    row[key] = self._value(f.kind, f.type_name, key, value)
                rows.append(row)
            out[name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
        return out

    def _links_on_owning_side(self, data: Data) -> Data:
        """A many-to-many link may be written on either side; it counts once, on the side
        ``export_records`` writes it (the join table's left side)."""
        out = {name: [dict(r) for r in rows] for name, rows in data.items()}
        for name, model in self.catalog.models.items():
            for f in model.fields.values():
                rel = f.relation
                if f.kind != "refs" or rel is None or rel.kind != "join" or rel.own_column == "left_id":
                    continue
                owner = next(
                    o
                    for o in self.catalog.models[rel.target].fields.values()
                    if o.relation is not None and o.relation.table == rel.table and o is not f
                )
                targets = {r["id"]: r for r in out.get(rel.target, [])}
                for record in out.get(name, []):
                    for other in record.pop(f.name, None) or []:
                        if other in targets:
                            links = targets[other].setdefault(owner.name, [])
                            if record["id"] not in links:
                                links.append(record["id"])
        return out

    def _value(self, kind: str, type_name: str, key: str, value: Any) -> Any:
        if key == "id" or kind == "ref":
            return value if value in self.known_ids else NEW
        if kind == "refs":
            return sorted(v if v in self.known_ids else NEW for v in value)
        if kind == "scalars" and isinstance(value, list):
            return sorted((self._scalar(type_name, v) for v in value), key=repr)
        return self._scalar(type_name, value)

    @staticmethod
    def _scalar(type_name: str, value: Any) -> Any:
        if type_name == "Float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(float(value), 6)
        return value

    def difference(self, expected: Data, actual: Data) -> str | None:
        """None when the states match, else which models differ and a sample of the rows."""
        want, got = self.normalize(expected), self.normalize(actual)
        problems = []
        for name in self.catalog.models:
            if want[name] == got[name]:
                continue
            missing = [r for r in want[name] if r not in got[name]]
            extra = [r for r in got[name] if r not in want[name]]
            problems.append(f"{name}: expected {_short(missing)} got {_short(extra)}")
        return "; ".join(problems) or None

    def changes(self, before: Data, after: Data) -> dict[str, dict[str, int]]:
        """Rows added, removed and modified per model (for the report, not for scoring)."""
        b, a = self.normalize(before), self.normalize(after)
        out = {}
        for name in self.catalog.models:
            old = {r["id"]: r for r in b[name]}
            new_rows = [r for r in a[name] if r.get("id") == NEW or r["id"] not in old]
            kept = {r["id"]: r for r in a[name] if r.get("id") in old}
            counts = {
                "added": len(new_rows),
                "removed": len(set(old) - set(kept)),
                "modified": sum(1 for k, r in kept.items() if r != old[k]),
            }
            if any(counts.values()):
                out[name] = counts
        return out

    def invented_strings(self, seed: Data, after: Data, request: str, expected: Data) -> list[str]:
        """Strings a write stored that come from neither the request, the stored values, an
        enum, nor the right answer's own state (computed values such as a built email)."""
        allowed = _strings(seed) | _strings(expected)
        asked = norm_text(request)
        old_rows = {(m, r["id"]): r for m, rows in seed.items() for r in rows}
        invented = []
        for name, model in self.catalog.models.items():
            for record in after.get(name, []):
                old = old_rows.get((name, record.get("id")), {})
                for key, value in record.items():
                    f = model.fields.get(key)
                    if f is None or key == "id" or f.type_name in NUMERIC or f.kind not in ("scalar", "scalars"):
                        continue
                    before = old.get(key)
                    values = value if isinstance(value, list) else [value]
                    olds = before if isinstance(before, list) else [before]
                    for v in values:
                        if not isinstance(v, str) or v in olds or v in self.enum_values:
                            continue
                        n = norm_text(v)
                        if n and n not in asked and n not in allowed:
                            invented.append(v)
        return invented


def _strings(data: Data) -> set[str]:
    out = set()
    for rows in data.values():
        for r in rows:
            for v in r.values():
                for x in v if isinstance(v, list) else [v]:
                    if isinstance(x, str):
                        out.add(norm_text(x))
    return out


def _short(rows: list[dict[str, Any]]) -> str:
    text = json.dumps(rows[:2], default=str)
    return text if len(text) < 300 else text[:297] + "..."
