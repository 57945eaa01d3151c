"""Text query to items: a vector index over item text embeddings, and the hits re-ranked
by the user's profile (pure: no I/O; the index is faiss).

- :class:`VectorIndex` keeps one unit vector per item and answers the nearest items to a
  query vector by inner product (= cosine). ``flat`` is exact (faiss ``IndexFlatIP``);
  ``hnsw`` is faiss's approximate HNSW graph, for catalogs where a full scan is too slow.
  Changes are collected, then :meth:`VectorIndex.build` makes a new searchable snapshot
  (it may run in a thread while searches use the previous one; its one writer waits).
- :func:`rerank` adds the user's category affinity and price fit to each hit's similarity
  and keeps the top ``k``.

>>> import numpy as np
>>> idx = VectorIndex(dim=2)
>>> idx.upsert(["red", "blue", "teal"], np.array([[1, 0], [0, 1], [0.6, 0.8]]))
>>> idx.swap(idx.build())
>>> [i for i, _ in idx.search(np.array([0.0, 1.0]), 2)]
['blue', 'teal']
>>> idx.remove(["blue"]); idx.swap(idx.build())
>>> [i for i, _ in idx.search(np.array([0.0, 1.0]), 2)]
['teal', 'red']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .profile import Profile

IndexKind = Literal["flat", "hnsw"]
HNSW_M = 32              # graph degree
HNSW_EF_SEARCH = 128     # candidates kept while searching (recall against speed)


@dataclass(frozen=True)
class Snapshot:
    """A searchable, immutable state of the index."""

    index: Any          # a faiss index over ``ids``' vectors, or None when empty
    ids: tuple[str, ...]

    def search(self, vec: np.ndarray, n: int) -> list[tuple[str, float]]:
        if self.index is None or n <= 0:
            return []
        q = np.ascontiguousarray(np.asarray(vec, dtype=np.float32).reshape(1, -1))
        sims, rows = self.index.search(q, min(n, len(self.ids)))
        return [(self.ids[r], float(s)) for s, r in zip(sims[0], rows[0], strict=True)
                if r >= 0]


class VectorIndex:
    """Item id -> unit vector, searched through the last :meth:`build` swapped in."""

    def __init__(self, dim: int, kind: IndexKind = "flat") -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"index kind must be flat or hnsw, got {kind!r}")
        self.dim, self.kind = dim, kind
        self._vecs: dict[str, np.ndarray] = {}
        self._live = Snapshot(None, ())

    def __len__(self) -> int:
        return len(self._vecs)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._vecs

    def upsert(self, ids: Sequence[str], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        for item, v in zip(ids, vecs, strict=True):
            self._vecs[item] = v

    def remove(self, ids: Sequence[str]) -> None:
        for item in ids:
            self._vecs.pop(item, None)

    def build(self) -> Snapshot:
        """A new snapshot of the current vectors, which it copies first, so later upserts
        do not reach it. It may run in a thread while searches use the live snapshot, but
        not beside an upsert: the API's follower, the one writer, awaits it."""
        import faiss

        ids = tuple(self._vecs)
        if not ids:
            return Snapshot(None, ())
        mat = np.ascontiguousarray(np.stack([self._vecs[i] for i in ids]), dtype=np.float32)
        if self.kind == "flat":
            index = faiss.IndexFlatIP(self.dim)
        else:
            index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(mat)
        return Snapshot(index, ids)

    def swap(self, snapshot: Snapshot) -> None:
        self._live = snapshot

    @property
    def searchable(self) -> int:
        """Items in the snapshot that searches use now."""
        return len(self._live.ids)

    def search(self, vec: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` nearest items to ``vec`` as (item, cosine), nearest first."""
        return self._live.search(vec, n)


@dataclass(frozen=True)
class Hit:
    item_id: str
    score: float
    similarity: float
    affinity: float
    price_fit: float


def rerank(hits: Sequence[tuple[str, float]], info: Mapping[str, Mapping[str, Any]],
           profile: Profile | None, *, k: int, affinity_weight: float,
           price_weight: float) -> list[Hit]:
    """Top ``k`` of ``hits`` by similarity + ``affinity_weight`` x the user's affinity to
    the item's category + ``price_weight`` x how near its price is to what the user views.
    Without a profile the order is the similarity's.

    >>> p = Profile(); p.observe("view", "Toys", 5.0, ts=0.0)
    >>> info = {"mug": {"category": "Kitchen", "price": 5.0}, "car": {"category": "Toys"}}
    >>> [h.item_id for h in rerank([("mug", 0.50), ("car", 0.45)], info, None, k=2,
    ...                             affinity_weight=0.3, price_weight=0.1)]
    ['mug', 'car']
    >>> [h.item_id for h in rerank([("mug", 0.50), ("car", 0.45)], info, p, k=2,
    ...                             affinity_weight=0.3, price_weight=0.1)]
    ['car', 'mug']
    """
    out = []
    for item, sim in hits:
        meta = info.get(item, {})
        aff = fit = 0.0
        if profile is not None:
            aff = profile.affinity(meta.get("category"))
            fit = profile.price_fit(meta.get("price"))
        out.append(Hit(item, round(sim + affinity_weight * aff + price_weight * fit, 6),
                       round(sim, 6), round(aff, 4), round(fit, 4)))
    out.sort(key=lambda h: (-h.score, h.item_id))
    return out[:k]
