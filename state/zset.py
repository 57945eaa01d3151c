"""A Redis sorted set in a dict, for :class:`~streamrec.state.memory_store.MemoryStore`.

>>> z = ZSet(); z.incr("a", 1.0); z.incr("b", 2.0); z.incr("c", 2.0)
>>> z.top(2)
[('c', 2.0), ('b', 2.0)]
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort


class ZSet(dict):
    """A Redis sorted set: member -> score, ranked by (score, member).

    Written only through :meth:`incr`, :meth:`put`, :meth:`scale` and :meth:`trim`, so
    that :meth:`top` can keep its last answer up to date instead of ranking the whole
    set again: while scores only grow (:meth:`incr` by a positive amount), the new top N
    is within the old top N and the members raised since, so each raised member is moved
    within the kept top by bisection (a batch reads about ten co-visitation rows and
    trending's top 80 of ~10k items once per run: ranking them each time was a quarter of
    an evaluation's time)."""

    __slots__ = ("_asc", "_dirty", "_kept", "_want")

    def __init__(self) -> None:
        super().__init__()
        self._want = 0                                # how many the kept top holds; 0: none
        self._asc: list[tuple[str, float]] = []       # the kept top, ascending by _order
        self._kept: set[str] = set()                  # its members
        self._dirty: dict[str, float | None] = {}     # raised since: score before (None: new)

    def incr(self, member: str, by: float) -> None:
        old = self.get(member)
        if member not in self._dirty:
            self._dirty[member] = old
        self[member] = by if old is None else old + by
        if by < 0:
            self._want = 0            # a score went down: the kept top may be wrong

    def put(self, member: str, score: float) -> None:
        self[member] = score
        self._want = 0                # a score may have gone down

    def discard(self, member: str) -> None:
        if self.pop(member, None) is not None:
            self._want = 0

    def scale(self, f: float) -> None:
        """Every score times ``f`` > 0 (the order stays)."""
        for k in self:
            self[k] *= f
        self._want = 0

    def top(self, n: int) -> list[tuple[str, float]]:
        """ZREVRANGE 0 n-1 WITHSCORES: highest score first, ties by member descending."""
        if n <= 0:
            return []
        if not self._want or n > self._want:
            self._rank(n)
        elif self._dirty:
            self._update()
        return self._asc[-n:][::-1]

    def _rank(self, want: int) -> None:
        if len(self) <= 8 * want:      # small: C's sort beats heapq's Python loop
            asc = sorted(self.items(), key=_order)[-want:]
        else:
            asc = heapq.nlargest(want, self.items(), key=_order)[::-1]
        self._asc, self._want, self._dirty = asc, want, {}
        self._kept = {m for m, _ in asc}

    def _update(self) -> None:
        asc, kept = self._asc, self._kept
        for m, old in self._dirty.items():
            if m in kept:
                del asc[bisect_left(asc, (old, m), key=_order)]
            else:
                kept.add(m)
            insort(asc, (m, self[m]), key=_order)
        over = len(asc) - self._want
        if over > 0:
            kept.difference_update([m for m, _ in asc[:over]])
            del asc[:over]
        self._dirty = {}

    def trim(self, keep: int) -> None:
        """ZREMRANGEBYRANK 0 -(keep+1): only the ``keep`` highest stay."""
        if len(self) > keep:
            kept = dict(self.top(keep))
            self.clear()
            self.update(kept)
            self._want = 0
            self._dirty = {}


def _order(entry: tuple[str, float]) -> tuple[float, str]:
    """Redis's order of a sorted set's members: by score, then by member."""
    return entry[1], entry[0]
