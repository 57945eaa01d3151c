"""Learned re-ranking: an online logistic regression over candidate features.

Candidate generation (co-visitation of the user's recent items plus trending,
:mod:`streamrec.models.ranking`) proposes about 100 items per user; the blend's fixed
weights order them. :class:`OnlineRanker` learns the order from the stream itself: when a
user views an item that was a candidate of the list they held, that candidate's features
are a positive and ``negatives`` other candidates of the same list, drawn with the
ranker's seeded generator, are negatives (test first: the list was judged before the
ranker learns from it). Features are standardised with running means and variances
(Welford); plain SGD on the log loss, as River's ``StandardScaler | LogisticRegression``
pipeline does one example at a time, but with numpy so that scoring a whole candidate
list is one matrix product.

Until ``warm_up`` positives have been learned the ranker is not ``ready`` and the blend
order is kept.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ranker = OnlineRanker(n_features=2, warm_up=50, seed=0)
>>> for _ in range(300):                      # feature 1 decides what gets viewed
...     cands = rng.normal(size=(20, 2))
...     ranker.learn(cands, int(np.argmax(cands[:, 1])))
>>> ranker.ready
True
>>> test = rng.normal(size=(20, 2))
>>> int(np.argmax(ranker.score(test))) == int(np.argmax(test[:, 1]))
True
>>> w = ranker.weights(["noise", "decides"]); abs(w["decides"]) > 5 * abs(w["noise"])
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class OnlineRanker:
    """Pointwise learning-to-rank: P(viewed next | candidate features)."""

    def __init__(self, n_features: int, lr: float = 0.02, intercept_lr: float = 0.01,
                 l2: float = 0.0, negatives: int = 4, warm_up: int = 1000,
                 seed: int = 0) -> None:
        self.n_features = n_features
        self.lr = lr
        self.intercept_lr = intercept_lr
        self.l2 = l2
        self.negatives = negatives
        self.warm_up = warm_up
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        # learned state as plain lists: one example at a time is cheaper in Python floats
        # than in numpy calls on 7-element arrays (scoring a list is one numpy product)
        self._w = [0.0] * n_features
        self._b = 0.0
        self._n = 0                          # examples seen by the scaler
        self._mean = [0.0] * n_features
        self._m2 = [0.0] * n_features        # sums of squared deviations (Welford)
        self.n_positives = 0

    @property
    def ready(self) -> bool:
        return self.n_positives >= self.warm_up

    def learn_one(self, x: Sequence[float], y: bool) -> None:
        """One SGD step on one example (the scaler sees it first, as in River)."""
        self._n += 1
        n, mean, m2, w = self._n, self._mean, self._m2, self._w
        z = [0.0] * len(w)
        dot = self._b
        for i, xi in enumerate(x):
            d = xi - mean[i]
            mean[i] += d / n
            m2[i] += d * (xi - mean[i])
            std = math.sqrt(m2[i] / n) if n >= 2 else 0.0
            z[i] = (xi - mean[i]) / std if std > 0 else xi - mean[i]
            dot += z[i] * w[i]
        p = 1.0 / (1.0 + math.exp(-min(max(dot, -30.0), 30.0)))
        g = p - float(y)
        lr, l2 = self.lr, self.l2
        for i, zi in enumerate(z):
            w[i] -= lr * (g * zi + l2 * w[i])
        self._b -= self.intercept_lr * g

    def learn(self, candidates: np.ndarray, viewed: int) -> None:
        """Learn from one list: row ``viewed`` of ``candidates`` was viewed next; up to
        ``negatives`` other rows (sampled) were not."""
        self.learn_one(candidates[viewed].tolist(), True)
        self.n_positives += 1
        n_others = len(candidates) - 1
        if n_others > 0:
            picks = self._rng.choice(n_others, size=min(self.negatives, n_others),
                                     replace=False)
            for j in picks.tolist():
                self.learn_one(candidates[j if j < viewed else j + 1].tolist(), False)

    def weights(self, names: Sequence[str]) -> dict[str, float]:
        """Each feature's weight on its standardised scale: how much a one-standard-
        deviation change moves the log-odds of being viewed next, so the weights compare
        with each other (which components carry weight on this stream)."""
        return {n: round(w, 4) for n, w in zip(names, self._w, strict=True)}

    def score(self, candidates: np.ndarray) -> np.ndarray:
        """Log-odds of being viewed next, one per row; read-only."""
        if len(candidates) == 0:
            return np.zeros(0)
        mean = np.array(self._mean)
        if self._n < 2:
            z = candidates - mean
        else:
            std = np.sqrt(np.array(self._m2) / self._n)
            z = (candidates - mean) / np.where(std > 0, std, 1.0)
        return z @ np.array(self._w) + self._b
