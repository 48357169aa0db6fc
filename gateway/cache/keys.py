"""What a cached plan is keyed by: the root field, the selection when it matters, the hints, the text."""

from __future__ import annotations

from typing import Any

from ..sdl import RootField
from .entry import digest


def relevant_selection(root: RootField, selection: str) -> str:
    """The selection, when it changes what a plan must do.

    A field returning stored records gets whole records from its plan and the gateway resolves
    the selection itself, so there the selection does not matter. For aggregate rows,
    connector results and scalars the plan builds what is selected, so it does.
    """
    return "" if root.models else " ".join(selection.split())


def scope_of(root: RootField, selection: str, hints: dict[str, Any]) -> str:
    """What besides the text a plan depends on: the field, the relevant selection, the hints."""
    return digest(root.key, relevant_selection(root, selection), hints)


def exact_id(scope: str, text: str) -> str:
    """An exact entry's id: the scope and the normalised request text, case kept."""
    return "e" + digest(scope, text)


def template_id(scope: str, text: str, owner: str | None) -> str:
    """A template's id; an unapproved write template belongs to the caller that taught it."""
    return "t" + digest(scope, text, owner)
