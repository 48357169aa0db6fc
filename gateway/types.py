"""The value types a plan's expressions carry, and which of them fit where.

A type is the GraphQL named type of a value (``String``, ``Int``, an enum, a custom scalar),
whether it is a list, and for ids the model they identify, so a Project id can never fill a
Person reference. Custom scalars (``Date``, ``DateTime``...) are stored as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sdl import Catalog, ModelField

NUMERIC = ("Int", "Float")
BUILTIN = ("ID", "String", "Int", "Float", "Boolean")


@dataclass(frozen=True)
class ValueType:
    name: str  # a GraphQL named type, or "Null", "Json", "Any"
    model: str | None = None  # for ids: the model they identify
    is_list: bool = False

    def item(self) -> ValueType:
        return ValueType(self.name, self.model)

    def as_list(self) -> ValueType:
        return ValueType(self.name, self.model, True)

    def __str__(self) -> str:
        base = f"{self.model} id" if self.model else self.name
        return f"[{base}]" if self.is_list else base


NULL = ValueType("Null")
ANY = ValueType("Any")
INT, FLOAT, STRING, BOOLEAN = ValueType("Int"), ValueType("Float"), ValueType("String"), ValueType("Boolean")


def field_type(f: ModelField, model_name: str | None = None) -> ValueType:
    """The type of a stored field's value (a reference's value is the referenced id)."""
    if f.kind == "json":
        return ValueType("Json")
    if f.is_reference:
        return ValueType("ID", f.type_name, f.kind == "refs")
    if f.name == "id" and model_name is not None:
        return ValueType("ID", model_name)
    return ValueType(f.type_name, None, f.kind == "scalars")


def is_text(catalog: Catalog, t: ValueType) -> bool:
    """Text-like single values: strings, ids, enums and custom scalars (all stored as text)."""
    return (not t.is_list and t.name not in (*NUMERIC, "Boolean", "Json", "Null")) or t.name == "Any"


def is_numeric(t: ValueType) -> bool:
    return not t.is_list and t.name in (*NUMERIC, "Any")


def fits(catalog: Catalog, target: ValueType, actual: ValueType) -> bool:
    """May a computed value of type ``actual`` be stored in (or compared with) ``target``?"""
    if actual.name in ("Any", "Null"):  # nulls are checked against nullability elsewhere
        return True
    if target.is_list != actual.is_list:
        return False
    if target.name == "ID" and target.model is not None:
        return actual.name == "ID" and actual.model == target.model
    if target.name in catalog.enums or actual.name in catalog.enums:
        return target.name == actual.name or (target.name == "String" and actual.name in catalog.enums)
    if target.name == "Float":
        return actual.name in NUMERIC
    if target.name in ("Int", "Boolean", "Json"):
        return actual.name == target.name
    # String, ID and custom scalars: any text (ids, strings, custom scalars)
    return is_text(catalog, actual.item())


def unify(catalog: Catalog, a: ValueType, b: ValueType) -> ValueType | None:
    """The type of a value that is either ``a`` or ``b`` (branches of if/coalesce), or None."""
    if a.name in ("Null", "Any"):
        return b
    if b.name in ("Null", "Any"):
        return a
    if a == b:
        return a
    if is_numeric(a) and is_numeric(b):
        return FLOAT
    if is_text(catalog, a) and is_text(catalog, b) and a.name not in catalog.enums and b.name not in catalog.enums:
        return STRING
    return None
