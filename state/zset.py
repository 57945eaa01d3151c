"""A Redis sorted set in a dict, for :class:`~streamrec.state.memory_store.MemoryStore`.

>>> z = ZSet(); z.incr("a", 1.0); z.incr("b", 2.0); z.incr("c", 2.0)
>>> z.top(2)
[('c', 2.0), ('b', 2.0)]
"""

from __future__ import annotations

import heapq
from collections.abc import Collection


class ZSet(dict):
    """A Redis sorted set: member -> score, ranked by (score, member).

    Written only through :meth:`incr`, :meth:`put`, :meth:`scale` and :meth:`trim`, so
    that :meth:`top` can keep its last answer: while scores only grow, the new top N is
    within the old top N and the members changed since (a batch reads trending's top 80
    of ~10k items once per run: ranking all of them each time was a quarter of the time)."""

    __slots__ = ("_answer", "_best", "_best_n", "_dirty")

    def __init__(self) -> None:
        super().__init__()
        self._best: list[str] | None = None     # the last top, as members
        self._best_n = 0
        self._answer: list[tuple[str, float]] = []   # and with scores, while none changed
        self._dirty: set[str] = set()

    def incr(self, member: str, by: float) -> None:
        self[member] = self.get(member, 0.0) + by
        self._dirty.add(member)

    def put(self, member: str, score: float) -> None:
        self[member] = score
        self._best = None             # a score may have gone down

    def discard(self, member: str) -> None:
        if self.pop(member, None) is not None:
            self._best = None

    def scale(self, f: float) -> None:
        """Every score times ``f`` > 0 (the order stays)."""
        for k in self:
            self[k] *= f
        self._answer = []

    def top(self, n: int) -> list[tuple[str, float]]:
        """ZREVRANGE 0 n-1 WITHSCORES: highest score first, ties by member descending."""
        if n <= 0:
            return []
        if self._best is not None and n <= self._best_n:
            if not self._dirty and self._answer:
                return self._answer[:n]
            pool: Collection[str] = self._dirty.union(self._best)
            want = self._best_n
        else:
            pool, want = self.keys(), n
        if len(pool) <= 8 * want:      # small: C's sort beats heapq's Python loop
            best = sorted([(self[m], m) for m in pool], reverse=True)[:want]
        else:
            best = heapq.nlargest(want, ((self[m], m) for m in pool))
        self._best, self._best_n, self._dirty = [m for _, m in best], want, set()
        self._answer = [(m, x) for x, m in best]
        return self._answer[:n]

    def trim(self, keep: int) -> None:
        """ZREMRANGEBYRANK 0 -(keep+1): only the ``keep`` highest stay."""
        if len(self) > keep:
            kept = dict(self.top(keep))
            self.clear()
            self.update(kept)
            self._best = None
