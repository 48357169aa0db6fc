"""The answer schema as a llama.cpp grammar, with keys of filter-like objects in any order.

llama-cpp-python's JSON-Schema converter lets an object's optional keys appear only in the
schema's order. For a filter that is wrong: ``{"priority": {"eq": "LOW"}, "status": ...}``
is as good as the other order, but a model that starts with ``priority`` could then only
pick keys declared after it, and the grammar pushed it into fields the request never named
(``"project": {"name": ...}``, seen in the eval), or a range's ``gte`` into ``in``. Objects whose
keys are all optional (filters, conditions, an update's ``set``) therefore take their keys in
any order here. Objects with required keys (steps) keep the schema's order, optional keys
included in their place: the library puts every required key first, so an aggregate step had to
be ``{"op", "model", "aggregates", ...}`` with its ``where`` after the aggregates, unlike every
example; the model closed the object after ``aggregates`` and counts lost their condition
("how many books are available" counted every book, in the eval).
"""

from __future__ import annotations

import json
from typing import Any


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """GBNF for ``schema`` (already grammar-safe: see ``embedded.grammar_safe_schema``)."""
    from llama_cpp import llama_grammar

    base: Any = llama_grammar.SchemaConverter  # untyped library class

    class AnyOrderConverter(base):  # type: ignore[misc]
        def _build_object_rule(
            self, properties: list[tuple[str, Any]], required: set[str], name: str, additional_properties: Any
        ) -> str:
            closed = additional_properties in (False, None)
            if not closed or len(properties) < 2 or (required and properties[0][0] not in required):
                return str(super()._build_object_rule(properties, required, name, additional_properties))
            prefix = f"{name}{'-' if name else ''}"
            pairs = []
            for key, sub in properties:
                value = self.visit(sub, f"{prefix}{key}")
                pairs.append(
                    self._add_rule(
                        f"{prefix}{key}-kv", f'{self._format_literal(json.dumps(key))} space ":" space {value}'
                    )
                )
            if required:  # the schema's order, each optional key where the schema declares it
                rest = "".join(
                    f' "," space {pair}' if key in required else f' ( "," space {pair} )?'
                    for (key, _), pair in zip(properties[1:], pairs[1:], strict=True)
                )
                return f'"{{" space {pairs[0]}{rest} "}}" space'
            pair = self._add_rule(f"{prefix}any-kv", " | ".join(pairs))
            return f'"{{" space ( {pair} ( "," space {pair} )* )? "}}" space'

    converter: Any = AnyOrderConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    resolved = converter.resolve_refs(schema, "stdin")
    converter.visit(resolved, "")
    return str(converter.format_grammar())
