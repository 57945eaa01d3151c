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

import math
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


def serving_state(profile: Any) -> SessionState:
    """The state of a list the worker is making now, from the user's
    :class:`~streamrec.models.profile.Profile`: lists made before it in the session (one
    per event) and whether the event behind it is a click or purchase (on a list)."""
    events = profile.session[2] if profile.session else 1
    return SessionState(max(0, int(events) - 1), None,
                        profile.last_kind in ("click", "purchase"))


def state_key(s: SessionState, categories: dict[str, int]) -> tuple[int, int, int]:
    """(step bucket, category index, clicked): a category the policy does not know is
    one more index, "other"."""
    return (bucket(s.step), categories.get(s.category or "", len(categories)), int(s.clicked))


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
        return state_key(s, self.categories)

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

    def policy(self) -> SessionPolicy:
        """The learned values frozen for serving (an experiment's ``session_policy``)."""
        return SessionPolicy(self.actions, list(self.categories), self.epsilon,
                             {_key_name(k): self._shrunk(k).round(6).tolist()
                              for k in self._q if k is not None},
                             self._row(None)[0].round(6).tolist())

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


def _key_name(k: tuple[int, int, int]) -> str:
    return f"{k[0]}/{k[1]}/{k[2]}"


class SessionPolicy:
    """A :class:`SessionQ` frozen for serving: epsilon-greedy over its values per state
    (a state it never saw uses the pooled values). It is what an experiment with
    ``"allocation": "session"`` carries as ``session_policy``; without one every variant
    ties and the choice is uniform.

    >>> p = SessionPolicy.from_dict({"actions": ["blend", "covisit"], "epsilon": 0.2,
    ...                              "q": {"0/0/0": [1.0, 3.0]}, "pool": [2.0, 1.0]})
    >>> first, later = SessionState(0, None, False), SessionState(1, None, True)
    >>> p.probs(first).tolist(), p.probs(later).tolist()      # later: a state it never saw
    ([0.1, 0.9], [0.9, 0.1])
    """

    def __init__(self, actions: Sequence[Hashable], categories: Sequence[str], epsilon: float,
                 q: dict[str, list[float]], pool: list[float]) -> None:
        self.actions, self.epsilon = list(actions), epsilon
        self.categories = {c: n for n, c in enumerate(categories)}
        self.q = {k: np.asarray(v, dtype=float) for k, v in q.items()}
        self.pool = np.asarray(pool, dtype=float)

    @classmethod
    def from_dict(cls, d: Any) -> SessionPolicy:
        """Checks the shape; raises ValueError saying what is wrong."""
        if not isinstance(d, dict):
            raise ValueError("session_policy must be an object: actions, epsilon, q, pool")
        actions, eps = d.get("actions"), d.get("epsilon", 0.1)
        if not isinstance(actions, list) or not actions:
            raise ValueError("session_policy.actions must be the experiment's variants")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 <= eps <= 1:
            raise ValueError("session_policy.epsilon must be a number 0..1")
        cats, q, pool = d.get("categories", []), d.get("q", {}), d.get("pool")
        pool = [0.0] * len(actions) if pool is None else pool

        def row(v: Any) -> bool:
            return isinstance(v, list) and len(v) == len(actions) and all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for x in v)
        if not isinstance(q, dict) or not all(isinstance(k, str) and row(v)
                                              for k, v in q.items()) or not row(pool):
            raise ValueError("session_policy.q must map states to one finite value per "
                             "action, and pool must be one finite value per action")
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise ValueError("session_policy.categories must be a list of strings")
        return cls(actions, cats, float(eps), q, pool)

    def to_dict(self) -> dict[str, Any]:
        return {"actions": self.actions, "categories": list(self.categories),
                "epsilon": self.epsilon, "q": {k: v.tolist() for k, v in self.q.items()},
                "pool": self.pool.tolist()}

    def probs(self, s: SessionState) -> np.ndarray:
        v = self.q.get(_key_name(state_key(s, self.categories)), self.pool)
        best = v == v.max()
        return self.epsilon / len(v) + (1.0 - self.epsilon) * best / best.sum()


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
