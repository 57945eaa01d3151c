"""Ranking, as pure functions over plain data: the order of the stages, in one place.

A worker ranks a batch's touched users in two pure steps, with the transformer's scores
(a service of its own) asked for in between:

1. :func:`candidates`: per user, the candidates of its variant (co-visitation of its
   recent items, content similarity, trending), minus what it must not see (sold out,
   bought, seen), blended (``models/ranking.py``); then the learned ranker's order
   (``models/ltr.py``), for the blend users, once it is warm;
2. the scorer's answers for :func:`score_requests` (``streams/worker/scoring_client.py``);
3. :func:`rank`: River (MF, CTR: ``models/online_learner.py``), the transformer's
   scores, then the price rules, diversity and exploration (``models/finish.py``), the
   top-K and why each of them is there (``models/explain.py``).

No I/O and no clock: what the stages need is passed in (``RankInputs``), so each is
unit-tested without a server (``tests/unit/test_pipeline.py``).

>>> from streamrec.models.userstate import UserState
>>> cfg = RankConfig(k=2)
>>> st = UserState.from_json(None); st.observe("a", "view", recent_cap=10, seen_cap=10)
>>> rows = Rows(covis={"a": [("b", 2.0), ("c", 1.0)]}, trending=[("t", 1.0)])
>>> plan = candidates(cfg, {"u": st}, rows, {"u": None})
>>> plan.lists["u"][:3]
[('b', 1.0), ('c', 0.5), ('t', 0.1)]
>>> out = rank(cfg, plan, RankInputs(info={}, now=0.0))
>>> out["u"].top, out["u"].version
(['b', 'c'], 'blend-v1')
>>> rank(cfg, plan, RankInputs(info={}, now=0.0, rows=rows))["u"].reasons[0]
['viewed with item a (co-visits 2.0)']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .explain import explain
from .finish import finish
from .ltr import OnlineRanker
from .ranking import (
    FEATURES,
    MODEL_FEATURES,
    candidate_features,
    rank_variant,
    rerank_with_model,
)
from .userstate import UserState

MODEL_VERSION = "blend-v1"
Scored = list[tuple[str, float]]


@dataclass(frozen=True)
class RankConfig:
    """The ranking settings (``streams/settings.py`` has their meaning and defaults)."""

    k: int = 20
    ranking: str = "blend"
    covisit_window: int = 10
    trending_weight: float = 0.1
    recency_decay: float = 0.85
    content_weight: float = 0.3
    exclude_seen: bool = True
    score_candidates: int = 50
    ranker_candidates: int = 100
    river_weight: float = 0.3
    transformer_weight: float = 0.5
    price_drop_boost: float = 0.5
    min_price: float = 0.0
    diversity_lambda: float = 0.8
    explore: bool = False
    explore_prior_strength: float = 20.0
    explain: bool = True

    @classmethod
    def from_settings(cls, s: Any) -> RankConfig:
        return cls(**{f: getattr(s, f) for f in cls.__dataclass_fields__})


@dataclass
class Rows:
    """The candidate rows a batch read (``state.protocols.Candidates`` has the same)."""

    covis: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)
    trending: Sequence[tuple[str, float]] = ()
    out_of_stock: set[str] = field(default_factory=set)
    content: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)


@dataclass
class Plan:
    """What :func:`candidates` made: each user's candidates, best first."""

    heads: dict[str, list[str]]          # each user's recent items the rows were read for
    variants: dict[str, str | None]      # the experiment's variant, None without one
    lists: dict[str, Scored]
    learned: list[str] = field(default_factory=list)    # blend users the ranker may order
    ordered: set[str] = field(default_factory=set)      # those it did order
    features: dict[str, tuple[dict[str, int], np.ndarray]] = field(default_factory=dict)

    def items(self, per_user: int) -> set[str]:
        """The candidates a list can still end with (their catalog info is needed)."""
        return {i for r in self.lists.values() for i, _ in r[:per_user]}


@dataclass
class RankInputs:
    """What :func:`rank` needs besides the plan, all read before it is called."""

    info: Mapping[str, Mapping[str, Any]]                 # item -> {price, category, ...}
    now: float                                            # the time lists are made
    newest: Mapping[str, float] = field(default_factory=dict)   # user -> newest event ts
    river: Any = None                                     # OnlineLearner or None
    river_tag: str | None = None
    scores: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    scoring_note: str = "heuristic"                       # why an asked list has no scores
    vectors: Mapping[str, np.ndarray] | None = None       # item text embeddings
    arms: Mapping[str, tuple[int, int]] | None = None     # exploration: (shown, clicked)
    rng: np.random.Generator | None = None
    rows: Rows | None = None                              # the candidate rows (explaining)


@dataclass
class Ranked:
    """One user's fresh list."""

    items: Scored            # best first: the top K shown, then as many kept for serving
    top: list[str]           # the top K
    shown: list[str]         # items exploration showed
    propensities: list[float]  # of each shown item at its position (exploration only)
    variant: str | None
    version: str
    scoring: str             # "transformer", or why not
    reasons: list[list[str]] = field(default_factory=list)   # why each of the top K


def candidates(cfg: RankConfig, states: Mapping[str, UserState], rows: Rows,
               variants: Mapping[str, str | None], learned_ranker: bool = False) -> Plan:
    """Stage 1: each user's blended candidates (enough for the scorer, the learned ranker
    and for serving to drop sold-out items and still show K)."""
    heads = {u: st.recent[: cfg.covisit_window] for u, st in states.items()}
    lists: dict[str, Scored] = {}
    learned: list[str] = []
    for uid, st in states.items():
        exclude = rows.out_of_stock | set(st.bought)
        if cfg.exclude_seen:
            exclude |= set(st.seen)
        base = variants[uid] or cfg.ranking
        want = max(2 * cfg.k, cfg.score_candidates)
        if learned_ranker and base == "blend":
            learned.append(uid)
            want = max(want, cfg.ranker_candidates)
        lists[uid] = rank_variant("blend" if base in ("mf", "ctr") else base, heads[uid],
                                  rows.covis, rows.trending, exclude=exclude, k=want,
                                  trending_weight=cfg.trending_weight,
                                  recency_decay=cfg.recency_decay, content=rows.content,
                                  content_weight=cfg.content_weight)
    return Plan(heads, dict(variants), lists, learned)


def learned_order(plan: Plan, ranker: OnlineRanker, rows: Rows,
                  categories: Mapping[str, str | None],
                  states: Mapping[str, UserState] | None = None,
                  prices: Mapping[str, float | None] | None = None,
                  river: Any = None, when: Mapping[str, float] | None = None) -> None:
    """Stage 1b: the features of each blend list's candidates (kept in ``plan.features``
    for the user's next event to train on; with the users' profiles from ``states``, and
    River's scores at the user's newest event time ``when`` when ``river`` is given) and,
    once the ranker is warm, the list in its order, scores in (0, 1). The ranker learns
    each component's weight from the stream; until it is warm the blend's order stands,
    River re-ranking its head at the configured weight (the prior)."""
    for uid in plan.learned:
        ranked = plan.lists[uid]
        st = states.get(uid) if states else None
        X = candidate_features(ranked, plan.heads[uid], rows.covis, rows.trending, categories,
                               st.profile if st else None, prices)
        model = (river.score_columns(uid, [i for i, _ in ranked], (when or {}).get(uid, 0.0))
                 if river is not None else np.zeros((len(ranked), len(MODEL_FEATURES))))
        X = np.hstack([X, model])     # no model: zeros, which the ranker leaves at no effect
        plan.features[uid] = ({i: n for n, (i, _) in enumerate(ranked)}, X)
        if ranker.ready and ranked:
            z = np.clip(ranker.score(X), -30.0, 30.0)
            order = np.argsort(-z, kind="stable").tolist()
            p = np.round(1.0 / (1.0 + np.exp(-z)), 6).tolist()
            plan.lists[uid] = [(ranked[n][0], p[n]) for n in order]
            plan.ordered.add(uid)


def score_requests(cfg: RankConfig, plan: Plan, states: Mapping[str, UserState]
                   ) -> dict[str, tuple[list[str], list[str]]]:
    """What to ask the scorer: for each blend user with candidates, its sequence (oldest
    first) and its top ``score_candidates``."""
    return {uid: (list(reversed(states[uid].recent)),
                  [i for i, _ in plan.lists[uid][: cfg.score_candidates]])
            for uid in plan.lists
            if (plan.variants[uid] or cfg.ranking) == "blend" and plan.lists[uid]}


def _models(cfg: RankConfig, plan: Plan, x: RankInputs, uid: str) -> tuple[Scored, str]:
    """Stage 2: River's scores, then the transformer's; the list and its model version."""
    ranked, mode = plan.lists[uid], plan.variants[uid] or cfg.ranking
    version = f"{MODEL_VERSION}+ltr" if uid in plan.ordered else MODEL_VERSION
    river, when = x.river, x.newest.get(uid, x.now)
    if river is not None and ranked and mode in ("mf", "ctr"):
        mf, ctr = river.score_parts(uid, [i for i, _ in ranked], when)
        by = mf if mode == "mf" else ctr
        ranked = sorted(((i, round(float(s), 6)) for (i, _), s in zip(ranked, by, strict=True)),
                        key=lambda t: (-t[1], t[0]))
        version = f"{mode}-only+river@{x.river_tag}"
    elif river is not None and ranked and mode == "blend" and uid in plan.ordered:
        version = f"{version}+river@{x.river_tag}"      # River's scores were its features
    elif river is not None and ranked and mode == "blend":
        top = ranked[: 2 * cfg.k]
        model = river.score(uid, [i for i, _ in top], when)
        ranked = rerank_with_model(top, [float(m) for m in model], cfg.river_weight) \
            + ranked[2 * cfg.k:]
        version = f"{version}+river@{x.river_tag}"
    result = x.scores.get(uid)
    if result is not None:
        by_item = result["by_item"]     # by item: River may have reordered the candidates
        head = ranked[: len(by_item)]
        ranked = rerank_with_model(head, [by_item.get(i) for i, _ in head],
                                   cfg.transformer_weight)
        version = f"{MODEL_VERSION}+{result['model_version']}"
    return ranked[: 2 * cfg.k], version


def rank(cfg: RankConfig, plan: Plan, x: RankInputs) -> dict[str, Ranked]:
    """Stages 2 and 3: models, then price rules, diversity, exploration and the top K."""
    staged = {uid: _models(cfg, plan, x, uid) for uid in plan.lists}
    cats = {i: d.get("category") for i, d in x.info.items()}
    out = {}
    for uid, (ranked, version) in staged.items():
        items, shown, props = finish(
            ranked, x.info, cats, k=cfg.k, drop_boost=cfg.price_drop_boost,
            min_price=cfg.min_price, lam=cfg.diversity_lambda, vectors=x.vectors,
            arms=x.arms if cfg.explore else None, rng=x.rng,
            prior_strength=cfg.explore_prior_strength)
        result = x.scores.get(uid)
        scoring = ("transformer" if result is not None   # not asked (its variant): heuristic
                   else x.scoring_note if uid in x.scores else "heuristic")
        top = [i for i, _ in items[: cfg.k]]
        rows = x.rows or Rows()
        reasons = explain(top, plan.heads[uid], rows.covis, rows.trending, rows.content,
                          x.info, explored=shown,
                          scored=result["by_item"] if result else None,
                          transformer=result["model_version"] if result else None
                          ) if cfg.explain else []
        out[uid] = Ranked(items, top, shown, props, plan.variants[uid], version, scoring,
                          reasons)
    return out


__all__ = ["FEATURES", "MODEL_VERSION", "Plan", "RankConfig", "RankInputs", "Ranked", "Rows",
           "candidates", "learned_order", "rank", "score_requests"]
