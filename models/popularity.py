"""Time-decayed popularity ("trending") with forward decay.

An event at time ``ts`` adds ``2 ** ((ts - t0) / half_life)`` to its item's score,
where ``t0`` is a base time. Ranking by these scores equals ranking by counts decayed
to any common "now", and an update is a single increment (Redis ZINCRBY), so many
workers can share one sorted set. When exponents grow large the base is moved forward
and every score is rescaled (``rebase``); the Redis store does the same in Lua.

>>> p = DecayedPopularity(half_life=10.0)
>>> p.learn("old", ts=0.0); p.learn("old", ts=0.0); p.learn("new", ts=30.0)
>>> [item for item, _ in p.top(2)]   # two events 30 s ago weigh 2/8 of one now
['new', 'old']
>>> round(p.score("old", now=30.0), 3)
0.25
"""

from __future__ import annotations

REBASE_EXPONENT = 60.0  # rebase when a weight would exceed 2**60


def decay_weight(ts: float, t0: float, half_life: float) -> float:
    return 2.0 ** ((ts - t0) / half_life)


class DecayedPopularity:
    """In-memory trending scores; the Redis store implements the same rule."""

    def __init__(self, half_life: float = 7 * 86400.0) -> None:
        self.half_life = half_life
        self._t0: float | None = None
        self._scores: dict[str, float] = {}

    def learn(self, item_id: str, ts: float, weight: float = 1.0) -> None:
        if self._t0 is None:
            self._t0 = ts
        if (ts - self._t0) / self.half_life > REBASE_EXPONENT:
            self.rebase(ts)
        self._scores[item_id] = (self._scores.get(item_id, 0.0)
                                 + weight * decay_weight(ts, self._t0, self.half_life))

    def rebase(self, t0: float) -> None:
        if self._t0 is not None:
            f = decay_weight(self._t0, t0, self.half_life)
            self._scores = {k: v * f for k, v in self._scores.items()}
        self._t0 = t0

    def score(self, item_id: str, now: float) -> float:
        """The decayed count of ``item_id`` as seen at ``now``."""
        if self._t0 is None:
            return 0.0
        return self._scores.get(item_id, 0.0) * decay_weight(self._t0, now, self.half_life)

    def top(self, n: int) -> list[tuple[str, float]]:
        return sorted(self._scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
