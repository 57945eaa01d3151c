"""Item-to-item co-visitation: which items are interacted with close together.

A new interaction with item ``b`` is paired with the user's ``window`` most recent
other items; the pair weight falls with the distance (1, 1/2, 1/3, ...). Both
directions are counted so that ``a -> b`` and ``b -> a`` can serve as candidates; the
backward one (``b -> a``: from the newer item to the older) is scaled by ``backward``
(what comes next predicts better than what came before: 0.5 lifts prequential HR@20 on
movielens-small by about 0.003 over 1.0).

Pairs can also be weighted by when they happen: ``time_weight(ts, half_life)`` grows by 2
every ``half_life`` seconds (forward decay, as for trending), so that recent pairs count
more than old ones when a row is read, with no rewrite of the stored counts. The exponent
is taken from a fixed epoch (2020-01-01), so every worker computes the same weight
without shared state; half-lives of 30 days or more stay far from float limits for
decades either side. On movielens-small a half-life of one to two years lifts the
co-visitation HR@20 by about 5% (offline replay of the first 100 users).

>>> pairs_for("d", ["c", "b", "a"], window=2)
[('c', 'd', 1.0), ('d', 'c', 1.0), ('b', 'd', 0.5), ('d', 'b', 0.5)]
>>> pairs_for("d", ["c", "b"], window=2, backward=0.5)
[('c', 'd', 1.0), ('d', 'c', 0.5), ('b', 'd', 0.5), ('d', 'b', 0.25)]
>>> round(time_weight(EPOCH + 60 * 86400, half_life_s=30 * 86400), 6)
4.0
>>> pairs_for("b", ["a"], window=1, scale=0.25)
[('a', 'b', 0.25), ('b', 'a', 0.25)]
>>> cv = CoVisitation(window=2)
>>> cv.learn_sequence(["a", "b", "c"])
>>> cv.neighbours("b")
[('a', 1.0), ('c', 1.0)]
"""

from __future__ import annotations

from collections import defaultdict

EPOCH = 1577836800.0      # 2020-01-01 UTC: the zero of the time weight's exponent

MAX_EXPONENT = 512.0   # 2**512 ~ 1e154: sums of many such weights stay finite


def time_weight(ts: float, half_life_s: float) -> float:
    """Weight of a pair at event time ``ts``: doubles every ``half_life_s`` (0 = 1.0).

    The exponent is clamped to +-MAX_EXPONENT, so no timestamp can overflow a float (the
    worker also rejects timestamps far from now: ``streams/validate.py``).

    >>> time_weight(1e300, half_life_s=30 * 86400) == 2.0 ** MAX_EXPONENT
    True
    """
    if half_life_s <= 0:
        return 1.0
    return 2.0 ** max(-MAX_EXPONENT, min(MAX_EXPONENT, (ts - EPOCH) / half_life_s))


def partners(item_id: str, recent: list[str], window: int) -> list[str]:
    """The items a new interaction with ``item_id`` pairs with: the first ``window`` of
    ``recent`` (newest first) other than the item itself; the d-th weighs 1/d.

    >>> partners("b", ["b", "a", "c"], window=1)
    ['a']
    """
    out: list[str] = []
    if window > 0:
        for other in recent:
            if other != item_id:
                out.append(other)
                if len(out) == window:
                    break
    return out


def pairs_for(item_id: str, recent: list[str], window: int, backward: float = 1.0,
              scale: float = 1.0) -> list[tuple[str, str, float]]:
    """Weighted (from, to, weight) pairs for a new ``item_id`` given ``recent`` (newest
    first); every weight is multiplied by ``scale`` (see :func:`time_weight`). The Redis
    store expands (item, :func:`partners`, scale) into the same increments."""
    out: list[tuple[str, str, float]] = []
    for d, other in enumerate(partners(item_id, recent, window), 1):
        w = scale / d
        out.append((other, item_id, w))
        out.append((item_id, other, w * backward))
    return out


class CoVisitation:
    """In-memory co-visitation counts (the Redis store keeps the shared version).

    Used by evaluation and tests; the streaming worker sends the same ``pairs_for``
    output to Redis, so both give the same neighbours.
    """

    def __init__(self, window: int = 5, backward: float = 1.0) -> None:
        self.window = window
        self.backward = backward
        self._w: dict[str, dict[str, float]] = defaultdict(dict)

    def learn_pairs(self, pairs: list[tuple[str, str, float]]) -> None:
        for a, b, w in pairs:
            row = self._w[a]
            row[b] = row.get(b, 0.0) + w

    def learn_sequence(self, items: list[str]) -> None:
        recent: list[str] = []
        for item in items:
            self.learn_pairs(pairs_for(item, recent, self.window, self.backward))
            if item in recent:
                recent.remove(item)
            recent.insert(0, item)

    def neighbours(self, item_id: str, n: int = 50) -> list[tuple[str, float]]:
        row = self._w.get(item_id)
        if not row:
            return []
        return sorted(row.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
