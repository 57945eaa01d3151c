"""A seeded session simulator built from a real dataset's sessions, to compare a
long-term policy (:class:`~streamrec.models.longterm.SessionQ`) with the bandit
allocation over the same ranking variants (pure, no I/O).

**From the log** (:func:`build_steps`). Events are read in time order and cut into
sessions (a user's events with gaps under 30 minutes). At each step from one item to the
user's next, every variant's top-``k`` list is made from what came before (prequential),
so every step knows whether each variant's list held the item the user went to: a
full-information log. The variants:

- ``covisit``: the items most often viewed right after the current one;
- ``trending``: the most frequent items of the last 2,000 events;
- ``category``: the most frequent items of the current item's category.

**The simulated part** (:func:`simulate`, documented as simulated): the policy picks a
variant at each step; a list that holds the next item is a hit and earns the step's
value (a click 1, a purchase its price, a view 0); after a miss the user leaves with
probability ``leave_after_miss``, else the session goes on as it did in the log. Leaving
draws come from ``seed`` per (session, step), the same for every policy (common random
numbers), so policies are compared on the same users' patience.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .longterm import SessionQ, SessionState, discounted_return

VARIANTS = ("covisit", "trending", "category")
SESSION_GAP_S = 1800.0
TRENDING_WINDOW = 2000
REFRESH_EVERY = 200       # events between recomputations of the trending and category tops


@dataclass(frozen=True)
class SimEvent:
    user: str
    item: str
    ts: float
    value: float              # click 1, purchase its price, view 0
    category: str | None


@dataclass(frozen=True)
class SimStep:
    category: str | None      # the item the user is on
    hits: tuple[bool, ...]    # per variant: its list held the next item
    value: float              # what the next item's event is worth


class _Tops:
    """Top-k of a Counter, recomputed at most every REFRESH_EVERY events."""

    def __init__(self, k: int) -> None:
        self.k, self._top, self._at = k, frozenset[str](), -REFRESH_EVERY

    def get(self, counts: Counter[str], now: int) -> frozenset[str]:
        if now - self._at >= REFRESH_EVERY:
            self._top, self._at = frozenset(i for i, _ in counts.most_common(self.k)), now
        return self._top


def build_steps(events: Sequence[SimEvent], k: int = 20) -> list[list[SimStep]]:
    """The sessions of ``events`` (in time order), each a list of steps."""
    after: dict[str, Counter[str]] = {}
    window: deque[str] = deque()
    recent: Counter[str] = Counter()
    by_cat: dict[str | None, Counter[str]] = {}
    trend, cat_tops = _Tops(k), {}
    last: dict[str, SimEvent] = {}
    open_: dict[str, list[SimStep]] = {}
    sessions: list[list[SimStep]] = []
    for n, e in enumerate(events):
        prev = last.get(e.user)
        if prev is not None and e.ts - prev.ts > SESSION_GAP_S:
            sessions.append(open_.pop(e.user, []))
            prev = None
        if prev is not None and prev.item != e.item:
            row = after.get(prev.item, Counter())
            covisit = {i for i, _ in row.most_common(k)}
            tops = cat_tops.setdefault(prev.category, _Tops(k))
            lists = (covisit, trend.get(recent, n),
                     tops.get(by_cat.get(prev.category, Counter()), n))
            open_.setdefault(e.user, []).append(
                SimStep(prev.category, tuple(e.item in top for top in lists), e.value))
            after.setdefault(prev.item, Counter())[e.item] += 1
        last[e.user] = e
        window.append(e.item)
        recent[e.item] += 1
        if len(window) > TRENDING_WINDOW:
            old = window.popleft()
            recent[old] -= 1
            if not recent[old]:
                del recent[old]
        by_cat.setdefault(e.category, Counter())[e.item] += 1
    sessions += open_.values()
    return [s for s in sessions if s]


class Chooser:
    """What :func:`simulate` asks: a variant per state, and what happened."""

    def choose(self, s: SessionState) -> Hashable:
        raise NotImplementedError

    def learn(self, s: SessionState, a: Hashable, r: float, hit: bool,
              nxt: SessionState | None) -> None:
        pass


class QChooser(Chooser):
    def __init__(self, q: SessionQ) -> None:
        self.q = q

    def choose(self, s: SessionState) -> Hashable:
        return self.q.choose(s)

    def learn(self, s, a, r, hit, nxt) -> None:  # type: ignore[no-untyped-def]
        self.q.update(s, a, r, nxt)


class BanditChooser(Chooser):
    """The system's bandit allocation: one context-free bandit over the variants,
    rewarded by whether the list was clicked (models/bandits)."""

    def __init__(self, policy) -> None:  # type: ignore[no-untyped-def]
        self.policy = policy

    def choose(self, s: SessionState) -> Hashable:
        return self.policy.pull()[0]

    def learn(self, s, a, r, hit, nxt) -> None:  # type: ignore[no-untyped-def]
        self.policy.update(a, float(hit))


class Fixed(Chooser):
    def __init__(self, variant: str) -> None:
        self.variant = variant

    def choose(self, s: SessionState) -> Hashable:
        return self.variant


def simulate(sessions: Sequence[Sequence[SimStep]], chooser: Chooser, *, gamma: float,
             leave_after_miss: float, seed: int, learn: bool = True,
             on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """Each session's discounted return under ``chooser`` (which learns as it goes when
    ``learn``). Session ``i``'s leaving draws are seeded by (``seed``, ``i``)."""
    out = np.zeros(len(sessions))
    for i, steps in enumerate(sessions):
        rng = random.Random(seed * 1_000_003 + i)
        rewards: list[float] = []
        s = SessionState(0, steps[0].category, False)
        for t, st in enumerate(steps):
            a = chooser.choose(s)
            hit = st.hits[VARIANTS.index(str(a))]
            r = st.value if hit else 0.0
            rewards.append(r)
            leaves = not hit and rng.random() < leave_after_miss
            last = leaves or t == len(steps) - 1
            nxt = None if last else SessionState(t + 1, steps[t + 1].category, hit)
            if learn:
                chooser.learn(s, a, r, hit, nxt)
            if nxt is None:
                break
            s = nxt
        out[i] = discounted_return(rewards, gamma)
        if on_step:
            on_step(i)
    return out
