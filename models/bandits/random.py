"""Uniform random choice: the control arm of an experiment."""

from __future__ import annotations

import numpy as np

from .base import Policy


class RandomPolicy(Policy):
    """Every active arm equally likely; learns nothing (statistics are still kept).

    >>> policy = RandomPolicy(seed=0)
    >>> policy.add_arms("abc")
    >>> sorted(policy.pull(k=3))
    ['a', 'b', 'c']
    """

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        return self._rng.random(idx.size)
