"""The seam every place that holds cache entries implements: store, Redis, memory."""

from __future__ import annotations

from typing import Protocol

from .entry import CacheEntry


class Backend(Protocol):
    """Holds entries by id; templates are found by scope. Malformed stored entries are skipped."""

    def get(self, entry_id: str) -> CacheEntry | None:
        """The entry with this id, or None."""

    def templates(self, scope: str) -> list[CacheEntry]:
        """Every template entry of a scope (field, relevant selection and hints)."""

    def entries(self, field: str | None = None, limit: int | None = None) -> list[CacheEntry]:
        """Entries (of one root field key when given), newest first, at most ``limit``."""

    def put(self, entry: CacheEntry) -> None:
        """Store or replace an entry."""

    def delete(self, entry: CacheEntry) -> None:
        """Remove an entry; absent is fine."""

    def close(self) -> None:
        """Release connections."""
