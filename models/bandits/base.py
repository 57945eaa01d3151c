"""Shared base of every bandit policy: a live arm registry and vectorised statistics.

Arms are any hashable ids (item ids, experiment variants). They can be added and
retired while the policy runs; a retired arm is never chosen again until re-added, and
keeps its statistics. Counts and reward sums live in NumPy arrays indexed by arm slot,
so a pull over thousands of candidate arms is a few array operations, and a slate (the
top ``k`` of ``n`` arms by the policy's value) costs one ``argpartition``.

The base owns the public ``pull``/``update``; a policy implements only ``_values``, the
per-arm value it ranks by (a sampled mean, an upper bound, ...), like River's
``river/bandit/base.py``. Constructor arguments are stored as given; learned state is in
``_private`` attributes; each policy owns a seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

ArmID = Hashable


class Policy:
    """Base class: subclasses set ``_values(idx, context)`` and may extend ``_grow``."""

    def __init__(self, burn_in: int = 0, seed: int | None = None) -> None:
        if burn_in < 0:
            raise ValueError(f"burn_in must be >= 0, got {burn_in}")
        self.burn_in = burn_in
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._slot: dict[ArmID, int] = {}
        self._ids: list[ArmID] = []
        self._n = np.zeros(0)        # pulls that got a reward
        self._s = np.zeros(0)        # sum of rewards
        self._mean = np.zeros(0)     # s / n, kept up to date (0 for unplayed arms)
        self._active = np.zeros(0, dtype=bool)
        self._t = 0                  # total updates
        self._all: np.ndarray | None = None   # cached indices when every arm is active

    # -- parameters (River style) ------------------------------------------------------
    def _get_params(self) -> dict[str, Any]:
        import inspect
        return {p: getattr(self, p) for p in inspect.signature(type(self)).parameters}

    def clone(self) -> Policy:
        """A fresh, untrained policy with the same parameters."""
        return type(self)(**copy.deepcopy(self._get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"

    # -- arms --------------------------------------------------------------------------
    @property
    def arms(self) -> list[ArmID]:
        """Active arms, in the order they were added."""
        return [a for a, on in zip(self._ids, self._active, strict=True) if on]

    def add_arms(self, arms: Iterable[ArmID]) -> None:
        """Add new arms (or re-activate retired ones)."""
        new = []
        for a in arms:
            i = self._slot.get(a)
            if i is None:
                self._slot[a] = len(self._ids)
                self._ids.append(a)
                new.append(a)
            else:
                self._active[i] = True
        self._all = None
        if new:
            self._grow(len(new))

    def retire(self, arms: Iterable[ArmID]) -> None:
        """Stop choosing these arms (their statistics are kept)."""
        for a in arms:
            i = self._slot.get(a)
            if i is not None:
                self._active[i] = False
                self._all = None

    def _grow(self, n: int) -> None:
        self._n = np.concatenate([self._n, np.zeros(n)])
        self._s = np.concatenate([self._s, np.zeros(n)])
        self._mean = np.concatenate([self._mean, np.zeros(n)])
        self._active = np.concatenate([self._active, np.ones(n, dtype=bool)])

    def _indices(self, arms: Sequence[ArmID] | None) -> np.ndarray:
        if arms is None:
            if self._all is not None and self._all.size == self._active.size:
                return self._all                      # cached: every arm active
            idx = np.flatnonzero(self._active)
            self._all = idx if idx.size == self._active.size else None
            return idx
        self.add_arms(a for a in arms if a not in self._slot)
        idx = np.fromiter((self._slot[a] for a in arms), dtype=np.int64, count=len(arms))
        return idx[self._active[idx]]

    # -- learning ----------------------------------------------------------------------
    def pull(self, arms: Sequence[ArmID] | None = None, k: int = 1,
             context: np.ndarray | None = None) -> list[ArmID]:
        """Choose ``k`` distinct arms (a slate), best first.

        ``arms`` restricts the choice to these ids (unknown ones are added); by default
        all active arms compete. Arms still in burn-in are chosen first.
        """
        idx = self._indices(arms)
        if idx.size == 0:
            return []
        k = min(k, idx.size)
        values = self._burned(idx, np.asarray(self._values(idx, context), dtype=float))
        if k == 1:  # the best value, ties broken at random
            best = np.flatnonzero(values == values.max())
            j = best[0] if best.size == 1 else best[int(self._rng.integers(best.size))]
            return [self._ids[int(idx[j])]]
        # random tie-break (unplayed arms have value inf), then the top k by value
        jitter = self._rng.random(idx.size)
        inf = np.isinf(values)
        v = np.where(inf, 1e300 * (1.0 + jitter), values + 1e-9 * jitter)
        if k < idx.size:
            top = np.argpartition(-v, k - 1)[:k]
            top = top[np.argsort(-v[top], kind="stable")]
        else:
            top = np.argsort(-v, kind="stable")
        return [self._ids[i] for i in idx[top]]

    def _burned(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` with the arms still in burn-in first (inf)."""
        if self.burn_in:
            return np.where(self._n[idx] < self.burn_in, np.inf, values)
        return values

    # -- action probabilities, for off-policy evaluation (models/ope.py) ------------------
    def action_probs(self, arms: Sequence[ArmID] | None = None,
                     context: np.ndarray | None = None, *, draws: int = 1000,
                     seed: int = 0) -> np.ndarray:
        """pi(a|x): the probability that ``pull(arms, context=context)`` chooses each of
        the active ``arms`` (in their order; default every active arm), in the policy's
        present state. Exact where the value is deterministic (UCB, LinUCB): the best
        value wins and ties are split evenly, as ``pull`` breaks them at random.
        Stochastic policies override it; ``draws`` and ``seed`` are their Monte Carlo's.

        >>> from streamrec.models.bandits import UCB1
        >>> p = UCB1()
        >>> p.add_arms("abc")
        >>> p.update("a", 1.0)
        >>> p.action_probs().round(3).tolist()      # b and c unplayed: tied first
        [0.0, 0.5, 0.5]
        """
        idx = self._indices(arms)
        return argmax_probs(self._burned(idx, np.asarray(self._values(idx, context), float)))

    def slate_probs(self, k: int, arms: Sequence[ArmID] | None = None,
                    context: np.ndarray | None = None, *, draws: int = 1000,
                    seed: int = 0) -> np.ndarray:
        """``P[j, a]``: the probability that position ``j`` of ``pull(arms, k)`` holds
        active arm ``a`` (in the order of ``arms``), by ``draws`` seeded pulls; exact for
        a deterministic ranking without ties. The policy's own generator is untouched."""
        idx = self._indices(arms)
        return pull_marginals(self, k, arms, [self._ids[i] for i in idx], context,
                              draws=draws, seed=seed)

    def update(self, arm: ArmID, reward: float, context: np.ndarray | None = None) -> None:
        """Learn one reward for ``arm`` (added if unknown)."""
        i = self._slot.get(arm)
        if i is None or context is not None or type(self)._learn is not Policy._learn:
            self.update_many([arm], [reward], None if context is None else [context])
            return
        n = self._n[i] = self._n[i] + 1.0      # scalar fast path
        s = self._s[i] = self._s[i] + reward
        self._mean[i] = s / n
        self._t += 1

    def update_many(self, arms: Sequence[ArmID], rewards: Sequence[float],
                    contexts: Sequence[np.ndarray] | None = None) -> None:
        """Learn a batch of rewards at once (vectorised)."""
        self.add_arms(a for a in arms if a not in self._slot)
        idx = np.fromiter((self._slot[a] for a in arms), dtype=np.int64, count=len(arms))
        r = np.asarray(rewards, dtype=float)
        np.add.at(self._n, idx, 1.0)
        np.add.at(self._s, idx, r)
        self._mean[idx] = self._s[idx] / self._n[idx]
        self._t += len(arms)
        self._learn(idx, r, contexts)

    def set_stats(self, arms: Sequence[ArmID], pulls: Sequence[float],
                  rewards: Sequence[float]) -> None:
        """Load statistics kept elsewhere (e.g. shared by all workers in Redis); replaces
        the arms' counts and reward sums. Not for LinUCB, whose state is per context."""
        self.add_arms(a for a in arms if a not in self._slot)
        idx = np.fromiter((self._slot[a] for a in arms), dtype=np.int64, count=len(arms))
        self._n[idx] = np.asarray(pulls, dtype=float)
        self._s[idx] = np.asarray(rewards, dtype=float)
        self._mean[idx] = np.divide(self._s[idx], self._n[idx], out=np.zeros(idx.size),
                                    where=self._n[idx] > 0)
        self._t = int(self._n.sum())

    def _learn(self, idx: np.ndarray, rewards: np.ndarray,
               contexts: Sequence[np.ndarray] | None) -> None:
        """Extra learning for policies with more state (LinUCB)."""

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    # -- read-only statistics ----------------------------------------------------------
    def stats(self, arm: ArmID) -> tuple[int, float]:
        """(updates, reward sum) of ``arm``; (0, 0.0) for an unknown arm (nothing created)."""
        i = self._slot.get(arm)
        return (0, 0.0) if i is None else (int(self._n[i]), float(self._s[i]))

    def means(self, idx: np.ndarray) -> np.ndarray:
        """Mean reward per arm (0 for unplayed arms)."""
        return self._mean if idx is self._all else self._mean[idx]


def argmax_probs(values: np.ndarray) -> np.ndarray:
    """The distribution of a random-tie-break argmax over ``values``.

    >>> argmax_probs(np.array([1.0, 3.0, 3.0])).tolist()
    [0.0, 0.5, 0.5]
    """
    best = (values == values.max()).astype(float)
    return best / best.sum()


def pull_marginals(policy: Any, k: int, arms: Sequence[ArmID] | None, ids: Sequence[ArmID],
                   context: Any = None, *, draws: int, seed: int) -> np.ndarray:
    """``P[j, a]``: the share of ``draws`` calls of ``policy.pull(arms, k, context)`` that put
    ``ids[a]`` at position ``j``, with the policy's ``_rng`` swapped for one seeded with
    ``seed`` meanwhile (its own stream is left as it was)."""
    col = {a: c for c, a in enumerate(ids)}
    keep, policy._rng = policy._rng, np.random.default_rng(seed)
    try:
        out = np.zeros((min(k, len(ids)), len(ids)))
        for _ in range(draws):
            for j, a in enumerate(policy.pull(arms, k, context)):
                out[j, col[a]] += 1.0
    finally:
        policy._rng = keep
    return out / draws
