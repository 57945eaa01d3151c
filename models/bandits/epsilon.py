"""Epsilon-greedy, with fixed or decaying epsilon."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .base import ArmID, Policy, argmax_probs


class EpsilonGreedy(Policy):
    """Explore uniformly with probability ``epsilon * exp(-decay * t)``, else exploit.

    For a slate, the whole ranking is random on an exploration step.

    >>> import numpy as np
    >>> env = np.random.default_rng(0)
    >>> policy = EpsilonGreedy(epsilon=0.1, seed=3)
    >>> policy.add_arms(["x", "y"])
    >>> for _ in range(1000):
    ...     arm = policy.pull()[0]
    ...     policy.update(arm, float(env.random() < (0.7 if arm == "y" else 0.3)))
    >>> policy.stats("y")[0] > policy.stats("x")[0]
    True
    """

    def __init__(self, epsilon: float = 0.1, decay: float = 0.0, burn_in: int = 0,
                 seed: int | None = None) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        if decay < 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        super().__init__(burn_in=burn_in, seed=seed)
        self.epsilon = epsilon
        self.decay = decay

    @property
    def current_epsilon(self) -> float:
        return self.epsilon * math.exp(-self.decay * self._t)

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        if self._rng.random() < self.current_epsilon:
            return self._rng.random(idx.size)
        return self.means(idx)

    def action_probs(self, arms: Sequence[ArmID] | None = None,
                     context: np.ndarray | None = None, *, draws: int = 1000,
                     seed: int = 0) -> np.ndarray:
        """Exactly ``eps/n`` on every arm plus ``1 - eps`` on the best mean (ties split);
        uniform over the arms in burn-in while there are any."""
        idx = self._indices(arms)
        greedy = argmax_probs(self._burned(idx, np.asarray(self.means(idx), float)))
        if self.burn_in and (self._n[idx] < self.burn_in).any():
            return greedy
        eps = self.current_epsilon
        return eps / idx.size + (1.0 - eps) * greedy
