"""Prequential (test-then-train) ranking metrics: the pure parts.

Each judged event is one relevant item; it is looked up in the top-K list the user held
just before it. HR@K counts a hit, MRR@K adds 1/rank, NDCG@K adds 1/log2(rank + 1)
(the ideal DCG of one relevant item is 1).

>>> judge("b", ["a", "b", "c"], k=2)
(1, 0.5, 0.6309297535714575)
>>> judge("c", ["a", "b", "c"], k=2)
(0, 0.0, 0.0)
>>> t = Tally()
>>> t.add(*judge("a", ["a", "b"], 2)); t.add(*judge("z", ["a", "b"], 2))
>>> t.judged, t.hr, t.mrr
(2, 0.5, 0.5)

Evaluation cuts a batch into runs (in stream order) in which each user has at most one
event, so that every event is judged against the list made after the user's previous event:

>>> split_runs(["u1", "u2", "u1", "u1", "u3", "u2"], key=lambda u: u)
[['u1', 'u2'], ['u1'], ['u1', 'u3', 'u2']]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def judge(item: str, ranked: Sequence[str], k: int) -> tuple[int, float, float]:
    """(hit, reciprocal rank, NDCG) of ``item`` in the first ``k`` of ``ranked``."""
    for pos, i in enumerate(ranked[:k]):
        if i == item:
            return 1, 1.0 / (pos + 1), 1.0 / math.log2(pos + 2)
    return 0, 0.0, 0.0


@dataclass
class Tally:
    """Sums of judged events; ``hr``, ``mrr``, ``ndcg`` are their means and ``se_hr``,
    ``se_mrr``, ``se_ndcg`` their standard errors (from the sums of squares; a hit's
    square is itself).

    >>> t = Tally()
    >>> for hit in (1, 0, 0, 0):
    ...     t.add(*judge("a", ["a"] if hit else ["b"], 1))
    >>> t.hr, round(t.se_hr, 4), round(t.se_mrr, 4)    # sqrt(0.25 x 0.75 / 4)
    (0.25, 0.2165, 0.2165)
    """

    judged: int = 0
    hits: int = 0
    rr: float = 0.0
    ndcg_sum: float = 0.0
    rr2: float = 0.0        # sum of squared reciprocal ranks
    ndcg2: float = 0.0      # sum of squared NDCGs

    def add(self, hit: int, rr: float, ndcg: float) -> None:
        self.judged += 1
        self.hits += hit
        self.rr += rr
        self.ndcg_sum += ndcg
        self.rr2 += rr * rr
        self.ndcg2 += ndcg * ndcg

    def merge(self, other: Tally) -> None:
        self.judged += other.judged
        self.hits += other.hits
        self.rr += other.rr
        self.ndcg_sum += other.ndcg_sum
        self.rr2 += other.rr2
        self.ndcg2 += other.ndcg2

    def _se(self, total: float, squares: float) -> float:
        n = self.judged
        if n < 2:
            return 0.0
        mean = total / n
        return math.sqrt(max(squares / n - mean * mean, 0.0) / n)

    @property
    def se_hr(self) -> float:
        return self._se(self.hits, self.hits)

    @property
    def se_mrr(self) -> float:
        return self._se(self.rr, self.rr2)

    @property
    def se_ndcg(self) -> float:
        return self._se(self.ndcg_sum, self.ndcg2)

    @property
    def hr(self) -> float:
        return self.hits / self.judged if self.judged else 0.0

    @property
    def mrr(self) -> float:
        return self.rr / self.judged if self.judged else 0.0

    @property
    def ndcg(self) -> float:
        return self.ndcg_sum / self.judged if self.judged else 0.0


def split_runs(items: Sequence[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Cut ``items`` into contiguous runs in which no key repeats (order is kept)."""
    runs: list[list[T]] = []
    keys: set[Hashable] = set()
    for x in items:
        k = key(x)
        if not runs or k in keys:
            runs.append([])
            keys = set()
        runs[-1].append(x)
        keys.add(k)
    return runs


def bucket_of(ts: float, width_s: float) -> int:
    """The curve bucket of event time ``ts`` (buckets ``width_s`` seconds wide).

    >>> bucket_of(86400.0 * 45, 86400.0 * 30)
    1
    """
    return int(ts // width_s)
