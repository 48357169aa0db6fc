"""The GraphiQL page: the packaged HTML, opened on example operations written from the user's SDL.

A first look should teach the one idea (every root field takes ``q``, a request in plain words),
so the editor starts with three operations on the user's own types: a listing with no model call,
a read with ``q`` and a mutation with ``q``.
"""

from __future__ import annotations

import json
from pathlib import Path

from graphql import parse, print_ast

from .sdl import Catalog, Model, RootField

PLACEHOLDER = "__DEFAULT_QUERY__"
FALLBACK = ("# Every root field takes q: a request in plain words.\n"
            "# Press Ctrl-Space for the fields of your schema.\n")


def _leaves(model: Model) -> list[str]:
    return [f.name for f in model.fields.values() if f.kind in ("scalar", "enum") and f.auth_roles is None]


def _selection(model: Model, catalog: Catalog, limit: int = 3) -> str:
    """id, a text field and an enum field (else the next scalars), plus one reference with a field of its own."""
    fields = [model.fields[n] for n in _leaves(model)]
    first_text = next((f.name for f in fields if f.type_name == "String"), None)
    first_enum = next((f.name for f in fields if f.kind == "enum"), None)
    ranked = [n for n in ("id", first_text, first_enum) if n is not None and n in model.fields]
    picked = list(dict.fromkeys(ranked + [f.name for f in fields]))[:limit]
    ref = next((f for f in model.fields.values() if f.kind == "ref" and f.auth_roles is None
                and catalog.models[f.type_name].auth_roles is None), None)
    if ref is not None:
        target = catalog.models[ref.type_name]
        inner = next((n for n in _leaves(target) if n != "id"), "id")
        picked.append(f"{ref.name} {{ {inner} }}")
    return " ".join(picked)


def _phrase(model: Model, catalog: Catalog, plural: str) -> tuple[str, str]:
    """A read request and a write request in words, using a field and value of this model."""
    enum_field = next((f for f in model.fields.values() if f.kind == "enum" and catalog.enums.get(f.type_name)), None)
    text_field = next((f for f in model.fields.values()
                       if f.kind == "scalar" and f.type_name == "String" and f.name != "id"), None)
    if enum_field is not None:
        value = catalog.enums[enum_field.type_name][0]
        read = f"{plural} whose {enum_field.name} is {value}"
    elif text_field is not None:
        read = f"{plural} whose {text_field.name} mentions 'report'"
    else:
        read = f"the five most recent {plural}"
    write = (f"add a {model.name[0].lower() + model.name[1:]} with {text_field.name} 'Example'"
             if text_field is not None else f"add a {model.name[0].lower() + model.name[1:]}")
    return read, write


def _first(catalog: Catalog, operation: str, list_only: bool = False) -> RootField | None:
    for root in catalog.root_fields.values():
        if root.operation == operation and root.models and root.auth_roles is None \
                and (root.returns_list or not list_only):
            return root
    return None


def _call(root: RootField, q: str | None, selection: str) -> str:
    args = [f"q: {json.dumps(q)}"] if q is not None else (["limit: 10"] if "limit" in root.arguments else [])
    return f"{root.name}{'(' + ', '.join(args) + ')' if args else ''} {{ {selection} }}"


def _pretty(operation: str) -> str:
    """One operation laid out as GraphQL's printer does (a field a line)."""
    return print_ast(parse(operation))


def example_operations(catalog: Catalog) -> str:
    """Three named operations on the user's SDL, or a short hint when it has no model fields."""
    listing = _first(catalog, "query", list_only=True)
    if listing is None:
        return FALLBACK
    model = catalog.models[listing.models[0]]
    selection = _selection(model, catalog)
    read, _ = _phrase(model, catalog, listing.name)
    name = listing.name[0].upper() + listing.name[1:]
    parts = [
        "# Each root field takes q: a request",
        "# in plain words. The gateway plans",
        "# it and runs it; extensions.fields",
        "# in the response shows the plan.",
        "# Press run, pick an operation.",
        "",
        "# 1. No q: a listing, no model call.",
        _pretty(f"query List{name} {{ {_call(listing, None, selection)} }}"),
        "",
        "# 2. A read in words.",
        _pretty(f"query Find{name} {{ {_call(listing, read, selection)} }}"),
    ]
    mutation = next((r for r in catalog.root_fields.values() if r.operation == "mutation" and r.models
                     and r.models[0] == model.name and r.auth_roles is None), None) or _first(catalog, "mutation")
    if mutation is not None:
        m_model = catalog.models[mutation.models[0]]
        _, m_write = _phrase(m_model, catalog, mutation.name)
        m_name = mutation.name[0].upper() + mutation.name[1:]
        parts += ["", "# 3. A change in words: one transaction.",
                  _pretty(f"mutation Change{m_name} {{ {_call(mutation, m_write, _selection(m_model, catalog))} }}")]
    return "\n".join(parts) + "\n"


def graphiql_page(template_path: Path, catalog: Catalog) -> str:
    """The packaged GraphiQL HTML with the examples as its default query (a JS string literal)."""
    html = template_path.read_text(encoding="utf-8")
    literal = json.dumps(example_operations(catalog)).replace("</", "<\\/")
    return html.replace(json.dumps(PLACEHOLDER), literal)
