"""Entries in a dict: the frozen plans of a lock file, and a backend for unit tests."""

from __future__ import annotations

from .entry import CacheEntry


class MemoryBackend:
    """A process-local backend; nothing survives the process."""

    def __init__(self, entries: list[CacheEntry] | None = None) -> None:
        self._entries: dict[str, CacheEntry] = {e.id: e for e in entries or []}

    def get(self, entry_id: str) -> CacheEntry | None:
        return self._entries.get(entry_id)

    def templates(self, scope: str) -> list[CacheEntry]:
        return [e for e in self._entries.values() if e.kind == "template" and e.scope == scope]

    def entries(self, field: str | None = None, limit: int | None = None) -> list[CacheEntry]:
        found = sorted((e for e in self._entries.values() if field is None or e.field == field),
                       key=lambda e: -e.created)
        return found[:limit] if limit is not None else found

    def put(self, entry: CacheEntry) -> None:
        self._entries[entry.id] = entry

    def delete(self, entry: CacheEntry) -> None:
        self._entries.pop(entry.id, None)

    def close(self) -> None:
        pass
