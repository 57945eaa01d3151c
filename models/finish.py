"""The last ranking stages of one list, as one pure function: price rules, diversity,
exploration. No I/O: everything it needs is passed in.

>>> ranked = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.1)]
>>> info = {"a": {"price": 9.0, "category": "x"}, "b": {"price": 0.5, "category": "x"},
...         "c": {"price": 4.0, "category": "y"}, "d": {"price": 4.0, "category": "y"}}
>>> cats = {i: d["category"] for i, d in info.items()}
>>> out, shown, _ = finish(ranked, info, cats, k=2, min_price=1.0, lam=1.0)
>>> [i for i, _ in out], shown        # b is under the price floor; no exploration
(['a', 'c', 'd'], [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .diversity import mmr
from .explore import explore_logged
from .rules import apply_price_rules

Ranked = list[tuple[str, float]]


def finish(ranked: Sequence[tuple[str, float]], info: Mapping[str, Mapping[str, Any]],
           categories: Mapping[str, str | None], *, k: int, drop_boost: float = 0.0,
           min_price: float = 0.0, lam: float = 1.0,
           vectors: Mapping[str, np.ndarray] | None = None,
           arms: Mapping[str, tuple[int, int]] | None = None,
           rng: np.random.Generator | None = None, prior_strength: float = 20.0
           ) -> tuple[Ranked, list[str], list[float]]:
    """``ranked`` (best first) through the price rules, MMR down to ``2 k`` and, when
    ``arms`` is given (exploration on), Thompson sampling of the top ``k`` among them.
    Returns the list (the explored top ``k`` first), the items exploration showed and
    the propensity of each at its position (``models/explore.py``)."""
    out = apply_price_rules(ranked, info, drop_boost=drop_boost, min_price=min_price)
    out = mmr(out, categories, 2 * k, lam=lam, vectors=vectors)
    if arms is None:
        return out, [], []
    if rng is None:
        raise ValueError("exploration needs a seeded rng")
    pick, propensities = explore_logged(out, arms, k, rng, prior_strength)
    score = dict(out)
    return ([(i, score[i]) for i in pick] + [x for x in out if x[0] not in pick], pick,
            propensities)
