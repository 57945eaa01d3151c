"""Blend candidate scores into one ranked, filtered top-K list (pure, no I/O).

Co-visitation candidates of the user's recent items are summed with a recency weight
(the newest item counts most), normalised to [0, 1], and blended with normalised
trending scores. Excluded items (out of stock, bought, already seen) never appear.

>>> covis = {"x": [("b", 4.0), ("c", 2.0)], "y": [("c", 4.0)]}
>>> trending = [("t", 10.0), ("b", 1.0)]
>>> blend_rank(["x", "y"], covis, trending, exclude={"x", "y"}, k=3, trending_weight=0.1)
[('c', 1.0), ('b', 0.750741), ('t', 0.1)]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from .profile import Profile

RECENCY_DECAY = 0.85
NO_RANK = 100      # rank given to a candidate that is no neighbour of the newest item
BASE_FEATURES = ("blend", "log_position", "heads_share", "first_head", "newest_rank",
                 "trending", "category_match", "profile_affinity", "price_fit")
MODEL_FEATURES = ("mf", "ctr")      # River's scores: OnlineLearner.score_columns
FEATURES = BASE_FEATURES + MODEL_FEATURES


def blend_rank(
    recent: Sequence[str],
    covis: Mapping[str, Sequence[tuple[str, float]]],
    trending: Sequence[tuple[str, float]],
    *,
    exclude: Collection[str],
    k: int,
    trending_weight: float,
    recency_decay: float = RECENCY_DECAY,
    content: Mapping[str, Sequence[tuple[str, float]]] | None = None,
    content_weight: float = 0.0,
) -> list[tuple[str, float]]:
    """Top-``k`` (item, score) by co-visitation of ``recent`` blended with ``trending``
    and, when given, content similarity (cosine in [0, 1]) to the recent items."""
    scores: dict[str, float] = {}
    get = scores.get
    w = 1.0
    for item in recent:
        neigh = covis.get(item)
        if neigh:
            top = neigh[0][1] or 1.0
            for cand, s in neigh:
                scores[cand] = get(cand, 0.0) + w * s / top
        if content and content_weight > 0:
            for cand, sim in content.get(item, ()):
                scores[cand] = get(cand, 0.0) + content_weight * w * sim
        w *= recency_decay
    if scores:
        m = max(scores.values())
        scores = {c: s / m for c, s in scores.items()}
        get = scores.get
    if trending and trending_weight > 0:
        tmax = trending[0][1] or 1.0
        for cand, s in trending:
            scores[cand] = get(cand, 0.0) + trending_weight * s / tmax
    # (-score, item) tuples sort as the key (-score, item) would, without a call per item
    ranked = [(-s, c) for c, s in scores.items() if c not in exclude]
    ranked = heapq.nsmallest(k, ranked) if len(ranked) > 4 * k else sorted(ranked)[:k]
    return [(c, round(-s, 6)) for s, c in ranked]


def trending_list(trending: Sequence[tuple[str, float]], exclude: Collection[str],
                  k: int) -> list[tuple[str, float]]:
    """Trending items for a cold user, normalised to [0, 1], minus ``exclude``."""
    if not trending:
        return []
    tmax = trending[0][1] or 1.0
    return [(c, round(s / tmax, 6)) for c, s in trending if c not in exclude][:k]


def rank_variant(variant: str, recent: Sequence[str],
                 covis: Mapping[str, Sequence[tuple[str, float]]],
                 trending: Sequence[tuple[str, float]], *, exclude: Collection[str], k: int,
                 trending_weight: float, recency_decay: float = RECENCY_DECAY,
                 content: Mapping[str, Sequence[tuple[str, float]]] | None = None,
                 content_weight: float = 0.0) -> list[tuple[str, float]]:
    """Rank with one named variant: ``blend``, ``covisit`` (filled up with trending when
    it has fewer than ``k``) or ``trending``.

    >>> rank_variant("covisit", ["a"], {"a": [("x", 1.0)]}, [("t", 5.0)], exclude=(), k=2,
    ...              trending_weight=0.1)
    [('x', 1.0), ('t', 0.0)]
    """
    if variant == "trending":
        return trending_list(trending, exclude, k)
    if variant == "covisit":
        ranked = blend_rank(recent, covis, (), exclude=exclude, k=k, trending_weight=0.0,
                            recency_decay=recency_decay)
        if len(ranked) < k:
            have = {c for c, _ in ranked} | set(exclude)
            ranked += [(c, 0.0) for c, _ in trending if c not in have][: k - len(ranked)]
        return ranked
    if variant == "blend":
        return blend_rank(recent, covis, trending, exclude=exclude, k=k,
                          trending_weight=trending_weight, recency_decay=recency_decay,
                          content=content, content_weight=content_weight)
    raise ValueError(f"unknown ranking variant {variant!r}")


def rerank_with_model(ranked: Sequence[tuple[str, float]],
                      model_scores: Sequence[float | None], weight: float
                      ) -> list[tuple[str, float]]:
    """Blend heuristic scores with model scores (each min-max normalised over the list);
    items the model does not know get the lowest model score.

    >>> rerank_with_model([("a", 1.0), ("b", 0.5), ("c", 0.0)], [0.1, 3.0, None], 0.5)
    [('b', 0.75), ('a', 0.5), ('c', 0.0)]
    """
    if not ranked:
        return []
    known = [m for m in model_scores if m is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    hs = [h for _, h in ranked]
    hlo, hhi = min(hs), max(hs)
    out = []
    for (item, h), m in zip(ranked, model_scores, strict=True):
        mn = (m - lo) / (hi - lo) if m is not None and hi > lo else 0.0
        hn = (h - hlo) / (hhi - hlo) if hhi > hlo else 0.0
        out.append((item, round((1 - weight) * hn + weight * mn, 6)))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def candidate_features(ranked: Sequence[tuple[str, float]], recent: Sequence[str],
                       covis: Mapping[str, Sequence[tuple[str, float]]],
                       trending: Sequence[tuple[str, float]],
                       categories: Mapping[str, str | None], profile: Profile | None = None,
                       prices: Mapping[str, float | None] | None = None) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate of ``ranked`` (the blend's order), for
    the learned re-ranker (:mod:`streamrec.models.ltr`): its blend score, log position,
    share of the ``recent`` items whose co-visitation rows hold it, how far back the
    newest of them is (0 = the newest item), its log rank in the newest item's row
    (``NO_RANK`` when absent), its trending score, the share of the recent items in
    its category, and from the user's ``profile``: its category's affinity and how near
    its price is to what the user views (exp of minus the log distance; 0 unknown).

    >>> covis = {"x": [("b", 4.0), ("c", 2.0)], "y": [("c", 4.0)]}
    >>> ranked = blend_rank(["x", "y"], covis, [("b", 2.0)], exclude=(), k=3,
    ...                     trending_weight=0.1)
    >>> X = candidate_features(ranked, ["x", "y"], covis, [("b", 2.0)],
    ...                        {"b": "Drama", "c": "Comedy", "x": "Drama", "y": "Horror"})
    >>> ranked[0][0], dict(zip(FEATURES, X[0].round(3).tolist()))["heads_share"]
    ('c', 1.0)
    >>> X[1].round(3).tolist()   # b: second, under one of two recent items: x, at rank 0
    [0.841, 0.693, 0.5, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0]
    """
    n_recent = max(len(recent), 1)
    count: dict[str, int] = {}
    first: dict[str, int] = {}
    for h, item in enumerate(recent):
        for cand, _ in covis.get(item, ()):
            if cand in count:
                count[cand] += 1
            else:
                count[cand] = 1
                first[cand] = h
    newest = {c: r for r, (c, _) in enumerate(covis.get(recent[0], ()))} if recent else {}
    cat_count: dict[str | None, int] = {}
    for item in recent:
        c = categories.get(item)
        cat_count[c] = cat_count.get(c, 0) + 1
    cat_count[None] = 0
    tmax = (trending[0][1] or 1.0) if trending else 1.0
    trend = dict(trending)
    items = [c for c, _ in ranked]
    log_rank = _LOG_RANK
    affinity, fit = _profile_columns(items, categories, profile, prices)
    X = np.array([
        [s for _, s in ranked],
        np.log1p(np.arange(len(items))),
        [count.get(c, 0) for c in items],
        [first.get(c, n_recent) for c in items],
        [log_rank[min(newest.get(c, NO_RANK), NO_RANK)] for c in items],
        [trend.get(c, 0.0) / tmax for c in items],
        [cat_count.get(categories.get(c), 0) for c in items],
        affinity,
        fit,
    ], dtype=float).T
    X[:, 2:4] /= n_recent
    X[:, 6] /= n_recent
    return X.reshape(len(items), len(BASE_FEATURES))


def _profile_columns(items: Sequence[str], categories: Mapping[str, str | None],
                     profile: Profile | None, prices: Mapping[str, float | None] | None
                     ) -> tuple[list[float], list[float]]:
    if profile is None:
        return [0.0] * len(items), [0.0] * len(items)
    total = sum(profile.cats.values())
    cats = profile.cats
    affinity = [cats.get(categories.get(c) or "", 0.0) / total if total else 0.0
                for c in items]
    mine, prices = profile.log_price(), prices or {}
    if mine is None:
        return affinity, [0.0] * len(items)
    return affinity, [profile.price_fit(prices.get(c), mine) for c in items]


_LOG_RANK = [math.log1p(r) for r in range(NO_RANK + 1)]
