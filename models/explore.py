"""Exploration among ranked candidates: Thompson sampling over item arms.

Each candidate is an arm whose Beta prior is centred on its (normalised) ranking score,
with strength ``prior_strength``; the arm's shared click statistics (impressions in a
served top-K, clicks attributed through the impression id) update it. The top ``k`` of
the sampled values form the list, so items the model under-rates still get shown
sometimes, and items that earn clicks rise.

>>> import numpy as np
>>> ranked = [("a", 1.0), ("b", 0.8), ("c", 0.1)]
>>> explore(ranked, {}, k=2, rng=np.random.default_rng(0), prior_strength=1000.0)
['a', 'b']
>>> stats = {"c": (1000, 900)}              # c was shown 1000 times and clicked 900
>>> explore(ranked, stats, k=1, rng=np.random.default_rng(0), prior_strength=10.0)
['c']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .bandits import ThompsonSampling


def explore(ranked: Sequence[tuple[str, float]], stats: Mapping[str, tuple[int, int]], k: int,
            rng: np.random.Generator, prior_strength: float = 20.0,
            prior_scale: float = 0.5) -> list[str]:
    """The ``k`` items chosen by Thompson sampling among ``ranked`` (best first)."""
    return explore_logged(ranked, stats, k, rng, prior_strength, prior_scale, draws=0)[0]


def explore_logged(ranked: Sequence[tuple[str, float]], stats: Mapping[str, tuple[int, int]],
                   k: int, rng: np.random.Generator, prior_strength: float = 20.0,
                   prior_scale: float = 0.5, draws: int = 200
                   ) -> tuple[list[str], list[float]]:
    """``explore``'s list and, per position, the propensity of the item shown there:
    P(that item at that position), by ``draws`` more seeded draws from the same
    posteriors with the draw that was shown counted too, so it is never 0 (the
    impressions log of ``models/ope_slate.py``).

    >>> pick, p = explore_logged([("a", 1.0), ("b", 0.5)], {}, 1,
    ...                          np.random.default_rng(0), draws=999)
    >>> pick, p[0] > 0.9          # a leads by far: shown nearly always
    (['a'], True)
    """
    if not ranked:
        return [], []
    scores = np.array([s for _, s in ranked], dtype=float)
    span = scores.max() - scores.min()
    norm = (scores - scores.min()) / span if span > 0 else np.full(len(scores), 0.5)
    policy = ThompsonSampling(prior_strength=prior_strength,
                              seed=int(rng.integers(2**31)))  # from the caller's stream
    items = [i for i, _ in ranked]
    policy.set_prior({i: 0.01 + prior_scale * m for i, m in zip(items, norm, strict=True)})
    shown = [i for i in items if i in stats]
    if shown:
        policy.set_stats(shown, [stats[i][0] for i in shown],
                         [min(stats[i][1], stats[i][0]) for i in shown])
    pick = policy.pull(k=k)
    if draws <= 0:
        return pick, []
    idx = np.arange(len(items))
    a, b = policy.posterior(idx)
    samples = rng.beta(a, b, size=(draws, idx.size))
    top = np.argsort(-samples, axis=1)[:, : len(pick)]
    col = {i: c for c, i in enumerate(items)}
    return pick, [float(((top[:, j] == col[i]).sum() + 1) / (draws + 1))
                  for j, i in enumerate(pick)]
