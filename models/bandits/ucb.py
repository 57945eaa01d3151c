"""UCB1."""

from __future__ import annotations

import numpy as np

from .base import Policy


class UCB1(Policy):
    """Choose the largest ``mean + c * sqrt(2 ln t / n)``; unplayed arms first.

    >>> import numpy as np
    >>> env = np.random.default_rng(0)
    >>> true_p = [0.2, 0.6, 0.4]
    >>> policy = UCB1(seed=1)
    >>> policy.add_arms(range(3))
    >>> for _ in range(2000):
    ...     arm = policy.pull()[0]
    ...     policy.update(arm, float(env.random() < true_p[arm]))
    >>> policy.pull()[0]
    1
    """

    def __init__(self, c: float = 1.0, burn_in: int = 0, seed: int | None = None) -> None:
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        super().__init__(burn_in=burn_in, seed=seed)
        self.c = c

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        n = self._n[idx]
        bonus = self.c * np.sqrt(2.0 * np.log(max(self._t, 1)) / np.maximum(n, 1.0))
        return np.where(n > 0, self.means(idx) + bonus, np.inf)
