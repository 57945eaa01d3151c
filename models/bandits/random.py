"""Uniform random choice: the control arm of an experiment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import ArmID, Policy


class RandomPolicy(Policy):
    """Every active arm equally likely; learns nothing (statistics are still kept).

    >>> policy = RandomPolicy(seed=0)
    >>> policy.add_arms("abc")
    >>> sorted(policy.pull(k=3))
    ['a', 'b', 'c']
    """

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return self._rng.random(idx.size)

    def action_probs(self, arms: Sequence[ArmID] | None = None,
                     context: np.ndarray | None = None, *, draws: int = 1000,
                     seed: int = 0) -> np.ndarray:
        """Exactly uniform over the active ``arms``."""
        n = self._indices(arms).size
        return np.full(n, 1.0 / n)

    def slate_probs(self, k: int, arms: Sequence[ArmID] | None = None,
                    context: np.ndarray | None = None, *, draws: int = 1000,
                    seed: int = 0) -> np.ndarray:
        """Exactly uniform: every position holds each arm with probability 1/n."""
        n = self._indices(arms).size
        return np.full((min(k, n), n), 1.0 / n)
