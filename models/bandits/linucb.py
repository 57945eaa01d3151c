"""LinUCB with disjoint linear models per arm (Li et al., 2010)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Policy


class LinUCB(Policy):
    """Per arm a ridge regression of reward on the context; choose the largest
    ``theta . x + alpha * sqrt(x' A^-1 x)``. ``A^-1`` is kept per arm and updated with
    Sherman-Morrison, so a pull over n arms is two batched matrix products.

    >>> import numpy as np
    >>> env = np.random.default_rng(0)
    >>> policy = LinUCB(dim=2, alpha=0.5, seed=0)
    >>> policy.add_arms(["left", "right"])
    >>> for _ in range(600):   # "left" pays in context 0, "right" in context 1
    ...     x = np.eye(2)[env.integers(2)]
    ...     arm = policy.pull(context=x)[0]
    ...     good = (arm == "left") == (x[0] == 1)
    ...     policy.update(arm, float(env.random() < (0.8 if good else 0.2)), context=x)
    >>> policy.pull(context=np.array([1.0, 0.0]))[0], policy.pull(context=np.array([0.0, 1.0]))[0]
    ('left', 'right')
    """

    def __init__(self, dim: int, alpha: float = 1.0, ridge: float = 1.0, burn_in: int = 0,
                 seed: int | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if ridge <= 0:
            raise ValueError(f"ridge must be > 0, got {ridge}")
        super().__init__(burn_in=burn_in, seed=seed)
        self.dim = dim
        self.alpha = alpha
        self.ridge = ridge
        self._ainv = np.zeros((0, dim, dim))
        self._b = np.zeros((0, dim))

    def _grow(self, n: int) -> None:
        super()._grow(n)
        eye = np.broadcast_to(np.eye(self.dim) / self.ridge, (n, self.dim, self.dim))
        self._ainv = np.concatenate([self._ainv, eye])
        self._b = np.concatenate([self._b, np.zeros((n, self.dim))])

    def _x(self, context: np.ndarray | None) -> np.ndarray:
        if context is None:
            raise ValueError("LinUCB needs a context vector of length dim")
        x = np.asarray(context, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"context must have shape ({self.dim},), got {x.shape}")
        return x

    def _values(self, idx: np.ndarray, context: np.ndarray | None) -> np.ndarray:
        x = self._x(context)
        ainv = self._ainv[idx]                           # (n, d, d)
        theta = np.einsum("nij,nj->ni", ainv, self._b[idx])
        ax = ainv @ x                                    # (n, d)
        return theta @ x + self.alpha * np.sqrt(np.maximum(ax @ x, 0.0))

    def _learn(self, idx: np.ndarray, rewards: np.ndarray,
               contexts: Sequence[np.ndarray] | None) -> None:
        if contexts is None:
            raise ValueError("LinUCB.update needs the context the arm was pulled with")
        for i, r, c in zip(idx, rewards, contexts, strict=True):
            x = self._x(c)
            ainv = self._ainv[i]
            ax = ainv @ x
            self._ainv[i] = ainv - np.outer(ax, ax) / (1.0 + x @ ax)
            self._b[i] += r * x
