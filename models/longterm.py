"""Long-term reward: a policy that maximises the discounted session reward
``sum_t gamma^t R_t`` instead of the next click alone (pure, no I/O).

- **State** (:class:`SessionState`): the step in the session (bucketed: 0, 1, 2, 3-5, 6+),
  the category of the item the user is on (one of the policy's known categories, else
  "other") and whether the last list was clicked.
- **Actions**: ranking variants (for example blend, covisit, trending), or exploration
  rates: whatever the list is made with.
- **Rewards**: a click is worth 1, a purchase its price; a purchase later in the session
  reaches earlier lists through the discounted return.
- **Learning** (:class:`SessionQ`): tabular Q-learning, off-policy, so it learns from the
  lists any policy made: ``Q(s,a) += alpha (r + gamma max_a' Q(s',a') - Q(s,a))``, with
  no future at the session's end. It chooses epsilon-greedily and gives the probability
  of every action (:meth:`SessionQ.action_probs`) for off-policy evaluation.
- **Off-policy value** (:func:`pdis`): per-decision importance sampling over logged
  sessions, ``V = mean_i sum_t gamma^t (prod_{j<=t} pi(a_j|s_j)/mu_j) r_t``.

>>> q = SessionQ(["blend", "covisit"], ["Toys"], gamma=0.9, epsilon=0.0, shrink=0, seed=0)
>>> s0, s1 = SessionState(0, "Toys", False), SessionState(1, "Toys", True)
>>> q.update(s1, "covisit", 10.0, None)      # the purchase at the session's second list
>>> q.update(s0, "blend", 1.0, s1)           # a click on the first, then that future
>>> q.values(s0).round(3).tolist(), q.choose(s0)
([10.0, 0.0], 'blend')
>>> round(discounted_return([1.0, 0.0, 10.0], 0.9), 2)
9.1
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STEP_BUCKETS = (0, 1, 2, 3, 3, 3, 4)     # step -> bucket; 6 and later -> 4


@dataclass(frozen=True)
class SessionState:
    step: int                 # lists shown before this one in the session
    category: str | None      # category of the item the user is on
    clicked: bool             # the last list was clicked


def bucket(step: int) -> int:
    return STEP_BUCKETS[min(step, len(STEP_BUCKETS) - 1)]


def discounted_return(rewards: Sequence[float], gamma: float) -> float:
    g = 0.0
    for r in reversed(rewards):
        g = r + gamma * g
    return g


class SessionQ:
    """Tabular Q-learning over (step bucket, category, clicked) x actions.

    Each Q(s,a) is the running mean of its targets (``alpha`` None: step 1/n) or an
    exponential one (``alpha``), shrunk toward the same action's value pooled over all
    states by ``shrink`` pseudo-visits: ``(n Q(s,a) + shrink Q(a)) / (n + shrink)``. A
    state seen rarely acts like the pooled, context-free policy until its own visits
    outweigh the pool; rewards as noisy as prices need that.
    """

    def __init__(self, actions: Sequence[Hashable], categories: Sequence[str], *,
                 gamma: float = 0.9, alpha: float | None = None, epsilon: float = 0.1,
                 shrink: float = 20.0, seed: int = 0) -> None:
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.actions = list(actions)
        self.categories = {c: n for n, c in enumerate(categories)}
        self.gamma, self.alpha, self.epsilon, self.shrink = gamma, alpha, epsilon, shrink
        self._q: dict[tuple[int, int, int] | None, np.ndarray] = {}
        self._n: dict[tuple[int, int, int] | None, np.ndarray] = {}
        self._rng = random.Random(seed)

    def key(self, s: SessionState) -> tuple[int, int, int]:
        return (bucket(s.step), self.categories.get(s.category or "", len(self.categories)),
                int(s.clicked))

    def _row(self, k: tuple[int, int, int] | None) -> tuple[np.ndarray, np.ndarray]:
        if k not in self._q:
            self._q[k] = np.zeros(len(self.actions))
            self._n[k] = np.zeros(len(self.actions))
        return self._q[k], self._n[k]

    def values(self, s: SessionState) -> np.ndarray:
        """Q(s, .) shrunk toward the pooled values."""
        return self._shrunk(self.key(s))

    def update(self, s: SessionState, action: Hashable, reward: float,
               nxt: SessionState | None) -> None:
        """One transition; ``nxt`` None: the session ended after this list."""
        target = reward + (0.0 if nxt is None else self.gamma * float(self.values(nxt).max()))
        a = self.actions.index(action)
        for k in (self.key(s), None):
            q, n = self._row(k)
            n[a] += 1
            q[a] += (self.alpha or 1.0 / n[a]) * (target - q[a])

    def action_probs(self, s: SessionState) -> np.ndarray:
        """Epsilon spread evenly, the rest split among the best actions."""
        q = self.values(s)
        best = q == q.max()
        n = len(self.actions)
        return self.epsilon / n + (1.0 - self.epsilon) * best / best.sum()

    def choose(self, s: SessionState) -> Hashable:
        p = self.action_probs(s)
        return self.actions[self._rng.choices(range(len(p)), weights=p.tolist())[0]]

    def greedy(self) -> dict[str, Any]:
        """The learned choice per visited state, for reports."""
        names = {n: c for c, n in self.categories.items()}
        return {f"step{k[0]}/{names.get(k[1], 'other')}/{'clicked' if k[2] else 'not'}":
                self.actions[int(np.argmax(self._shrunk(k)))]
                for k in sorted(k for k in self._q if k is not None)}

    def _shrunk(self, k: tuple[int, int, int]) -> np.ndarray:
        q, n = self._row(k)
        pool, _ = self._row(None)
        return (n * q + self.shrink * pool) / np.maximum(n + self.shrink, 1e-12)


@dataclass(frozen=True)
class Step:
    """One logged list: its state, the action taken, its reward and the action's
    probability under the policy that logged it."""

    state: SessionState
    action: Hashable
    reward: float
    propensity: float


def pdis(sessions: Sequence[Sequence[Step]], probs: Callable[[SessionState], np.ndarray],
         actions: Sequence[Hashable], gamma: float, clip: float | None = None) -> np.ndarray:
    """Each session's per-decision importance-sampled discounted return under the policy
    whose action probabilities are ``probs(state)`` (aligned with ``actions``);
    ``clip`` caps the cumulative weight. Their mean estimates the policy's value.

    >>> s = SessionState(0, None, False)
    >>> log = [[Step(s, "a", 1.0, 0.5), Step(s, "b", 2.0, 0.5)]]
    >>> pdis(log, lambda st: np.array([1.0, 0.0]), ["a", "b"], 0.5).tolist()   # 2 x 1
    [2.0]
    """
    out = np.zeros(len(sessions))
    col = {a: n for n, a in enumerate(actions)}
    for i, steps in enumerate(sessions):
        w, disc, v = 1.0, 1.0, 0.0
        for st in steps:
            w *= probs(st.state)[col[st.action]] / st.propensity
            if clip is not None:
                w = min(w, clip)
            v += disc * w * st.reward
            disc *= gamma
        out[i] = v
    return out
