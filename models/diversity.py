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

from collections import Counter
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
    rel = [s for _, s in ranked]
    lo, hi = min(rel), max(rel)
    norm = [(r - lo) / (hi - lo) for r in rel] if hi > lo else [1.0] * len(rel)
    if vectors:
        return _mmr_matrix(ranked, norm, categories, k, lam, vectors)
    return _mmr_categories(ranked, norm, categories, k, lam)


def _mmr_matrix(ranked: Sequence[tuple[str, float]], norm: Sequence[float],
                categories: Mapping[str, str | None], k: int, lam: float,
                vectors: Mapping[str, np.ndarray] | None) -> list[tuple[str, float]]:
    """MMR over the full similarity matrix (categories and embeddings)."""
    items = [i for i, _ in ranked]
    nrm = np.array(norm, dtype=float)
    sim = _sim_matrix(items, categories, vectors)
    best_sim = np.zeros(len(items))
    free = np.ones(len(items), dtype=bool)
    picked: list[int] = []
    while free.any() and len(picked) < k:
        value = np.where(free, lam * nrm - (1 - lam) * best_sim, -np.inf)
        j = int(np.argmax(value))          # ties: the earlier (more relevant) item
        picked.append(j)
        free[j] = False
        best_sim = np.maximum(best_sim, sim[:, j])
    return [ranked[j] for j in picked]


def _mmr_categories(ranked: Sequence[tuple[str, float]], norm: Sequence[float],
                    categories: Mapping[str, str | None], k: int, lam: float
                    ) -> list[tuple[str, float]]:
    """The same picks as :func:`_mmr_matrix` when similarity is only "same category":
    an item's penalty is 1 - lam once its category was picked, else 0, so each step
    compares two items, the most relevant free item of a new category and the most
    relevant of a picked one (about 10x faster for a 40-item list than the matrix)."""
    cats = [categories.get(i) for i, _ in ranked]
    order = sorted(range(len(ranked)), key=lambda j: -norm[j])   # stable: ties by index
    picked_cats: set[str] = set()
    picked: list[int] = []
    while order and len(picked) < k:
        new = old = -1
        for j in order:
            c = cats[j]
            if c is not None and c in picked_cats:
                if old < 0:
                    old = j
            elif new < 0:
                new = j
            if new >= 0 and old >= 0:
                break
        if new < 0:
            j = old
        elif old < 0:
            j = new
        else:
            v_new, v_old = lam * norm[new], lam * norm[old] - (1 - lam)
            j = new if v_new > v_old or (v_new == v_old and new < old) else old
        picked.append(j)
        order.remove(j)
        if cats[j] is not None:
            picked_cats.add(cats[j])
    return [ranked[j] for j in picked]


def intra_list_diversity(items: Sequence[str], categories: Mapping[str, str | None],
                         vectors: Mapping[str, np.ndarray] | None = None) -> float:
    """Mean pairwise dissimilarity (1 - similarity) of a list; 0 for fewer than 2 items."""
    n = len(items)
    if n < 2:
        return 0.0
    pairs = n * (n - 1) / 2
    if not vectors:     # similar pairs are the pairs within one (known) category
        counts = Counter(c for c in (categories.get(i) for i in items) if c is not None)
        return round(1 - sum(m * (m - 1) / 2 for m in counts.values()) / pairs, 4)
    total = sum(1 - _sim(items[a], items[b], categories, vectors)
                for a in range(n) for b in range(a + 1, n))
    return round(total / pairs, 4)


def catalog_coverage(lists: Iterable[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one list."""
    seen: set[str] = set()
    for items in lists:
        seen.update(items)
    return round(len(seen) / catalog_size, 4) if catalog_size else 0.0
