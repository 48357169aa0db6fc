"""The contract's words: a read that asks for a thing the SDL has no word for is refused.

A small model asked for "the home addresses of all members" or "how many hours did Ada log"
answers with members or tasks, not with a refusal: the request looks like one it can serve.
The gateway can tell these apart without the model. It looks at what the request asks for
("the X of ...", "how many X") and refuses when no word of X names a type, field or enum value
of the SDL, X is not a generic word such as "number" or "total", and X is not capitalised like
a name ("the Left Hand of Darkness" is a book). It only ever refuses
what the contract cannot hold; anything it lets through still goes to the model.
"""

from __future__ import annotations

import re

from .sdl import Catalog

# Words that ask for a measure of whatever follows rather than name a stored thing.
GENERIC = frozenset(
    "number numbers count total totals sum average mean value values amount list names name id ids "
    "detail details data info information kind kinds type types all every each any first last latest "
    "newest oldest top best worst most least highest lowest biggest smallest largest longest shortest "
    "other same different one two three four five ten whole full current many much record records "
    "entry entries row rows item items person people everyone anyone staff".split()
) | frozenset(  # "how much did Bruno spend", "how many of them": no thing named at all
    "did do does is are was were has have had will would can could should of the a an in on at".split()
)
IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman"}
# "the X of ...", optionally after "what is/are", "show me", "list", "give me"
_THE_X_OF = re.compile(
    r"^\s*(?:(?:what|who)\s+(?:is|are|were|was)\s+|show\s+(?:me\s+)?|list\s+|give\s+me\s+|get\s+)?"
    r"the\s+((?:[a-z]+\s+){0,3}?[a-z]+)\s+of\s+",
    re.IGNORECASE,
)
_HOW_MANY = re.compile(r"^\s*how\s+(?:many|much)\s+([a-z]+)", re.IGNORECASE)


def _stem(word: str) -> str:
    word = word.lower()
    if word in IRREGULAR:
        return IRREGULAR[word]
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ses", "s"), ("xes", "x"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def name_words(name: str) -> list[str]:
    """``publishedOn`` -> published, on; ``SCIENCE_FICTION`` -> science, fiction."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_\-]+", spaced) if w]


class Vocabulary:
    """Stems of every type, field, enum and enum value name of the SDL (and its root fields)."""

    def __init__(self, catalog: Catalog) -> None:
        names: list[str] = []
        for model in [*catalog.models.values(), *catalog.shapes.values()]:
            names += [model.name, *model.fields]
        for enum, values in catalog.enums.items():
            names += [enum, *values]
        names += [root.name for root in catalog.root_fields.values()]
        self.known = {_stem(w) for name in names for w in name_words(name)}

    def unknown_thing(self, request: str) -> str | None:
        """What a read asks for that no name of the contract covers ("home addresses"), if any."""
        for pattern in (_THE_X_OF, _HOW_MANY):
            found = pattern.match(request)
            if found is None:
                continue
            said = found.group(1).split()
            if any(w[0].isupper() for w in said):  # a name: "the Left Hand of Darkness" is a book
                continue
            words = [w.lower() for w in said if w.lower() not in GENERIC]
            if words and not any(_stem(w) in self.known for w in words):
                return found.group(1)
        return None
