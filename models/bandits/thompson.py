"""Beta-Bernoulli Thompson sampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import ArmID, Policy, argmax_probs


class ThompsonSampling(Policy):
    """Sample each arm's success rate from Beta(alpha + successes, beta + failures) and
    choose the largest samples. Rewards in [0, 1] (fractional rewards count fractionally).

    ``prior`` optionally maps arm ids to a prior mean (e.g. a model score); it becomes a
    Beta prior of strength ``prior_strength`` when the arm is added.

    >>> import numpy as np
    >>> env = np.random.default_rng(0)
    >>> true_p = {"a": 0.1, "b": 0.5, "c": 0.3}
    >>> policy = ThompsonSampling(seed=42)
    >>> policy.add_arms(true_p)
    >>> for _ in range(500):
    ...     arm = policy.pull()[0]
    ...     policy.update(arm, float(env.random() < true_p[arm]))
    >>> policy.pull(k=3)[0], policy.stats("b")[0] > 300
    ('b', True)
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, prior_strength: float = 2.0,
                 burn_in: int = 0, seed: int | None = None) -> None:
        if alpha <= 0 or beta <= 0:
            raise ValueError(f"alpha and beta must be > 0, got {alpha}, {beta}")
        super().__init__(burn_in=burn_in, seed=seed)
        self.alpha = alpha
        self.beta = beta
        self.prior_strength = prior_strength
        self._a0 = np.zeros(0)
        self._b0 = np.zeros(0)

    def _grow(self, n: int) -> None:
        super()._grow(n)
        self._a0 = np.concatenate([self._a0, np.full(n, self.alpha)])
        self._b0 = np.concatenate([self._b0, np.full(n, self.beta)])

    def set_prior(self, arms: dict, strength: float | None = None) -> None:
        """Set Beta priors from prior means in (0, 1), e.g. model scores."""
        self.add_arms(a for a in arms if a not in self._slot)
        st = self.prior_strength if strength is None else strength
        for a, m in arms.items():
            m = min(max(float(m), 1e-3), 1 - 1e-3)
            i = self._slot[a]
            self._a0[i], self._b0[i] = m * st, (1 - m) * st

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        s, n = self._s[idx], self._n[idx]
        return self._rng.beta(self._a0[idx] + s, self._b0[idx] + np.maximum(n - s, 0.0))

    def posterior(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, n = self._s[idx], self._n[idx]
        return self._a0[idx] + s, self._b0[idx] + np.maximum(n - s, 0.0)

    def action_probs(self, arms: Sequence[ArmID] | None = None,
                     context: np.ndarray | None = None, *, draws: int = 10000,
                     seed: int = 0) -> np.ndarray:
        """P(arm has the largest posterior sample), by ``draws`` seeded Monte Carlo draws
        (standard error at most 0.5/sqrt(draws)); uniform over the arms in burn-in while
        there are any."""
        idx = self._indices(arms)
        if self.burn_in and (self._n[idx] < self.burn_in).any():
            return argmax_probs(self._burned(idx, np.zeros(idx.size)))
        a, b = self.posterior(idx)
        samples = np.random.default_rng(seed).beta(a, b, size=(draws, idx.size))
        return np.bincount(samples.argmax(axis=1), minlength=idx.size) / draws
