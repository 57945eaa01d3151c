"""Content similarity over item embeddings (unit vectors; dot product = cosine).

>>> import numpy as np
>>> idx = ContentIndex(dim=2)
>>> idx.add(["a", "b", "c"], np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]))
>>> [i for i, _ in idx.similar("a", 2)]
['b', 'c']
>>> idx.similar("unknown", 2)   # reads never create entries
[]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ContentIndex:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._vecs = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._row

    def add(self, ids: Sequence[str], vecs: np.ndarray) -> None:
        """Add or replace the vectors of ``ids``."""
        vecs = np.asarray(vecs, dtype=np.float32)
        new = []
        for item, v in zip(ids, vecs, strict=True):
            r = self._row.get(item)
            if r is None:
                new.append((item, v))
            else:
                self._vecs[r] = v
        if new:
            self._row.update({item: len(self._ids) + n for n, (item, _) in enumerate(new)})
            self._ids += [item for item, _ in new]
            self._vecs = np.vstack([self._vecs, np.stack([v for _, v in new])])

    def vector(self, item_id: str) -> np.ndarray | None:
        r = self._row.get(item_id)
        return None if r is None else self._vecs[r]

    def similar_to(self, vec: np.ndarray, n: int, exclude: set[str] = frozenset()
                   ) -> list[tuple[str, float]]:
        if not self._ids:
            return []
        sims = self._vecs @ np.asarray(vec, dtype=np.float32)
        k = min(len(sims), n + len(exclude))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        out = [(self._ids[i], round(float(sims[i]), 6)) for i in top
               if self._ids[i] not in exclude]
        return out[:n]

    def similar(self, item_id: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` items most similar to ``item_id`` (itself excluded)."""
        v = self.vector(item_id)
        return [] if v is None else self.similar_to(v, n, {item_id})
