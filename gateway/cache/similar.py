"""Pick the stored requests most like a new one (BM25 over words), for worked examples in the prompt.

No model and no network: a bounded number of candidates, scored by shared words weighted by
how rare they are among the candidates.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
TOKEN = re.compile(r"\w+")
K1, B = 1.2, 0.75


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def rank(query: str, candidates: Sequence[tuple[str, T]], k: int) -> list[tuple[float, str, T]]:
    """The ``k`` best candidates (text, item) for ``query`` with a score above zero, best first."""
    q = set(tokens(query))
    docs = [(Counter(tokens(text)), text, item) for text, item in candidates]
    if not q or not docs:
        return []
    n = len(docs)
    avg = sum(sum(c.values()) for c, _, _ in docs) / n or 1.0
    df = Counter(t for c, _, _ in docs for t in set(c) & q)
    scored = []
    for counts, text, item in docs:
        length = sum(counts.values())
        score = 0.0
        for t in q & set(counts):
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            tf = counts[t]
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg))
        if score > 0:
            scored.append((score, text, item))
    scored.sort(key=lambda s: -s[0])
    return scored[:k]
