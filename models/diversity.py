"""Diversity: maximal marginal relevance re-ranking and list-quality measures.

MMR picks, one at a time, the item maximising ``lam * relevance - (1 - lam) * max
similarity to the items already picked``. Similarity is 1 for the same category (or the
cosine of item embeddings when given, whichever is larger).

>>> ranked = [("a", 1.0), ("b", 0.95), ("c", 0.9), ("d", 0.5), ("e", 0.0)]
>>> cats = {"a": "Drama", "b": "Drama", "c": "Drama", "d": "Comedy", "e": "Drama"}
>>> [i for i, _ in mmr(ranked, cats, k=3, lam=0.5)]
['a', 'd', 'b']
>>> [i for i, _ in mmr(ranked, cats, k=3, lam=1.0)]   # lam = 1: relevance only
['a', 'b', 'c']
>>> intra_list_diversity(["a", "b", "d"], cats)
0.6667
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def _sim(a: str, b: str, categories: Mapping[str, str | None],
         vectors: Mapping[str, np.ndarray] | None) -> float:
    s = 1.0 if categories.get(a) is not None and categories.get(a) == categories.get(b) else 0.0
    if vectors is not None and a in vectors and b in vectors:
        s = max(s, float(np.dot(vectors[a], vectors[b])))
    return s


def _sim_matrix(items: Sequence[str], categories: Mapping[str, str | None],
                vectors: Mapping[str, np.ndarray] | None) -> np.ndarray:
    cats = [categories.get(i) for i in items]
    same = np.array([[a is not None and a == b for b in cats] for a in cats], dtype=float)
    if vectors:
        have = [n for n, i in enumerate(items) if i in vectors]
        if len(have) > 1:
            v = np.stack([vectors[items[n]] for n in have]).astype(np.float32)
            cos = v @ v.T
            idx = np.ix_(have, have)
            same[idx] = np.maximum(same[idx], cos)
    return same


def mmr(ranked: Sequence[tuple[str, float]], categories: Mapping[str, str | None], k: int,
        lam: float = 0.7, vectors: Mapping[str, np.ndarray] | None = None
        ) -> list[tuple[str, float]]:
    """Re-rank ``ranked`` (best first) into ``k`` items trading relevance for diversity."""
    if lam >= 1.0 or len(ranked) <= 1:
        return list(ranked[:k])
    items = [i for i, _ in ranked]
    rel = np.array([s for _, s in ranked], dtype=float)
    span = rel.max() - rel.min()
    norm = (rel - rel.min()) / span if span > 0 else np.ones(len(rel))
    sim = _sim_matrix(items, categories, vectors)
    best_sim = np.zeros(len(items))
    free = np.ones(len(items), dtype=bool)
    picked: list[int] = []
    while free.any() and len(picked) < k:
        value = np.where(free, lam * norm - (1 - lam) * best_sim, -np.inf)
        j = int(np.argmax(value))          # ties: the earlier (more relevant) item
        picked.append(j)
        free[j] = False
        best_sim = np.maximum(best_sim, sim[:, j])
    return [ranked[j] for j in picked]


def intra_list_diversity(items: Sequence[str], categories: Mapping[str, str | None],
                         vectors: Mapping[str, np.ndarray] | None = None) -> float:
    """Mean pairwise dissimilarity (1 - similarity) of a list; 0 for fewer than 2 items."""
    n = len(items)
    if n < 2:
        return 0.0
    total = sum(1 - _sim(items[a], items[b], categories, vectors)
                for a in range(n) for b in range(a + 1, n))
    return round(total / (n * (n - 1) / 2), 4)


def catalog_coverage(lists: Iterable[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one list."""
    seen: set[str] = set()
    for items in lists:
        seen.update(items)
    return round(len(seen) / catalog_size, 4) if catalog_size else 0.0
