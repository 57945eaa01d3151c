"""The ranking stages (``models/pipeline.py``) on plain data: no server, no clock."""

from __future__ import annotations

import numpy as np
import pytest

from streamrec.models import pipeline
from streamrec.models.events import CatalogChange, Interaction
from streamrec.models.ltr import OnlineRanker
from streamrec.models.online_learner import OnlineLearner
from streamrec.models.pipeline import RankConfig, RankInputs, Rows
from streamrec.models.ranking import FEATURES, rerank_with_model
from streamrec.models.userstate import UserState


def user(*items: str, bought: tuple[str, ...] = ()) -> UserState:
    st = UserState()
    for i in items:                          # oldest first: the last is the most recent
        st.observe(i, "purchase" if i in bought else "view", recent_cap=10, seen_cap=100)
    return st


ROWS = Rows(covis={"a": [("b", 4.0), ("c", 3.0), ("d", 2.0), ("e", 1.0)],
                   "x": [("y", 1.0)]},
            trending=[("t1", 9.0), ("b", 5.0), ("t2", 1.0)])


def items(scored):
    return [i for i, _ in scored]


def test_candidates_leave_out_sold_out_bought_and_seen_items():
    rows = Rows(ROWS.covis, ROWS.trending, out_of_stock={"c"})
    st = user("d", "x", "a", bought=("x",))
    plan = pipeline.candidates(RankConfig(k=2), {"u": st}, rows, {"u": None})
    assert set(items(plan.lists["u"])).isdisjoint({"c", "d", "x", "a"})
    # the newest item's row leads, the one before it counts 0.85 as much (1.0 > 0.85 > 0.25)
    assert items(plan.lists["u"])[:3] == ["b", "y", "e"]
    keep_seen = RankConfig(k=2, exclude_seen=False)
    again = pipeline.candidates(keep_seen, {"u": st}, rows, {"u": None})
    assert "d" in items(again.lists["u"]) and "x" not in items(again.lists["u"])


def test_each_variant_ranks_its_own_way():
    states = {u: user("a") for u in ("p", "q", "r", "s")}
    variants = {"p": "trending", "q": "covisit", "r": "blend", "s": None}
    plan = pipeline.candidates(RankConfig(k=3, ranking="covisit"), states, ROWS, variants)
    assert items(plan.lists["p"]) == ["t1", "b", "t2"]                  # trending only
    assert items(plan.lists["q"])[:4] == ["b", "c", "d", "e"]           # co-visitation
    assert items(plan.lists["q"])[4:] == ["t1", "t2"]                   # filled by trending
    assert plan.lists["s"] == plan.lists["q"]                           # the default
    assert items(plan.lists["r"])[0] == "b"                             # both agree on b


def test_score_requests_ask_only_for_blend_lists_with_candidates():
    states = {"u": user("x", "a"), "v": user("a"), "w": user()}
    plan = pipeline.candidates(RankConfig(k=2, score_candidates=3), states,
                               Rows(ROWS.covis, ()), {"u": None, "v": "covisit", "w": None})
    ask = pipeline.score_requests(RankConfig(k=2, score_candidates=3), plan, states)
    assert ask == {"u": (["x", "a"], ["b", "y", "c"])}      # oldest first; w has none


def test_transformer_scores_reorder_the_head_and_name_the_model():
    cfg = RankConfig(k=2, transformer_weight=1.0, diversity_lambda=1.0)
    plan = pipeline.candidates(cfg, {"u": user("a"), "v": user("a"), "w": user("a")},
                               Rows(ROWS.covis, ()), {"u": None, "v": None, "w": "covisit"})
    scores = {"u": {"by_item": {"b": 0.1, "c": 0.2, "d": 0.9, "e": None},
                    "model_version": "sasrec-v3"}, "v": None}
    out = pipeline.rank(cfg, plan, RankInputs(info={}, now=0.0, scores=scores,
                                              scoring_note="fallback"))
    assert out["u"].top == ["d", "c"]
    assert (out["u"].version, out["u"].scoring) == ("blend-v1+sasrec-v3", "transformer")
    assert out["v"].top == ["b", "c"] and out["v"].scoring == "fallback"   # asked, no answer
    assert out["w"].scoring == "heuristic"       # its variant (covisit) is never scored


def _river() -> OnlineLearner:
    river = OnlineLearner(seed=3)
    for i in "bcde":
        river.catalog_change(CatalogChange(i, 5, 1.0, "cat-" + i, None))
    for n in range(40):     # users keep viewing e
        river.learn(Interaction(f"e{n}", "view", f"o{n % 5}", "e" if n % 2 else "c",
                                1000.0 + n))
    return river


def test_river_orders_mf_and_ctr_variants_and_reranks_the_blend():
    river = _river()
    cfg = RankConfig(k=2, river_weight=0.5, diversity_lambda=1.0)
    states = {"m": user("a"), "c": user("a"), "b": user("a")}
    plan = pipeline.candidates(cfg, states, Rows(ROWS.covis, ()),
                               {"m": "mf", "c": "ctr", "b": None})
    out = pipeline.rank(cfg, plan, RankInputs(info={}, now=2000.0, river=river,
                                              river_tag="7"))
    mf, ctr = river.score_parts("m", ["b", "c", "d", "e"], 2000.0)
    assert out["m"].items[0][0] == "bcde"[int(np.argmax(mf))]
    assert out["c"].items[0][0] == "bcde"[int(np.argmax(ctr))]
    assert out["m"].version == "mf-only+river@7" and out["b"].version == "blend-v1+river@7"
    plain = pipeline.rank(cfg, plan, RankInputs(info={}, now=2000.0))
    assert plain["b"].version == "blend-v1"


def test_learned_ranker_keeps_features_and_orders_only_once_warm():
    cfg = RankConfig(k=2, ranker_candidates=4)
    states = {"u": user("a")}
    cold = OnlineRanker(len(FEATURES), warm_up=5, seed=0)
    plan = pipeline.candidates(cfg, states, ROWS, {"u": None}, learned_ranker=True)
    blend_order = list(plan.lists["u"])
    pipeline.learned_order(plan, cold, ROWS, {})
    rows, X = plan.features["u"]
    assert X.shape == (len(blend_order), len(FEATURES)) and rows["b"] == 0
    assert plan.lists["u"] == blend_order and not plan.ordered
    warm = OnlineRanker(len(FEATURES), warm_up=5, seed=0)
    for _ in range(50):                       # the last candidate is what gets viewed
        warm.learn(X, len(blend_order) - 1)
    plan = pipeline.candidates(cfg, states, ROWS, {"u": None}, learned_ranker=True)
    pipeline.learned_order(plan, warm, ROWS, {})
    assert plan.ordered == {"u"} and plan.lists["u"][0][0] == blend_order[-1][0]
    assert all(0.0 < p < 1.0 for _, p in plan.lists["u"])
    out = pipeline.rank(cfg, plan, RankInputs(info={}, now=0.0))
    assert out["u"].version == "blend-v1+ltr"


def test_rivers_scores_are_ranker_features_and_a_warm_ranker_weighs_them_itself():
    """The self-tuning blend: River's MF and CTR scores are two of the ranker's features;
    once warm, the ranker's order (which weighs them as the stream taught it) is the list,
    and River does not re-rank it a second time; while it warms up, River re-ranks the
    blend's head at the configured weight (the prior)."""
    river, cfg = _river(), RankConfig(k=2, ranker_candidates=4, diversity_lambda=1.0,
                                      river_weight=0.5)
    states = {"u": user("a")}
    plan = pipeline.candidates(cfg, states, ROWS, {"u": None}, learned_ranker=True)
    cold = OnlineRanker(len(FEATURES), warm_up=5, seed=0)
    pipeline.learned_order(plan, cold, ROWS, {}, river=river, when={"u": 2000.0})
    rows, X = plan.features["u"]
    items = sorted(rows, key=rows.get)
    mf, ctr = river.score_parts("u", items, 2000.0)
    np.testing.assert_allclose(X[:, -2], (mf - mf.min()) / (mf.max() - mf.min()))
    np.testing.assert_allclose(X[:, -1], ctr)
    prior = pipeline.rank(cfg, plan, RankInputs(info={}, now=2000.0, river=river,
                                                river_tag="7"))["u"]
    assert prior.version == "blend-v1+river@7"
    head = plan.lists["u"][: 2 * cfg.k]
    assert prior.items == rerank_with_model(
        head, river.score("u", [i for i, _ in head], 2000.0).tolist(), 0.5)[: len(prior.items)]
    warm = OnlineRanker(len(FEATURES), warm_up=5, seed=0)
    best = int(np.argmax(mf))                 # users view what MF likes best
    for _ in range(200):
        warm.learn(X, best)
    assert warm.weights(FEATURES)["mf"] > 0
    plan = pipeline.candidates(cfg, states, ROWS, {"u": None}, learned_ranker=True)
    pipeline.learned_order(plan, warm, ROWS, {}, river=river, when={"u": 2000.0})
    out = pipeline.rank(cfg, plan, RankInputs(info={}, now=2000.0, river=river,
                                              river_tag="7"))["u"]
    assert out.version == "blend-v1+ltr+river@7" and out.items[0][0] == items[best]
    assert [i for i, _ in out.items] == [i for i, _ in plan.lists["u"]][: len(out.items)]


def test_rules_diversity_and_exploration_finish_the_list():
    info = {"b": {"price": 0.5, "category": "k"}, "c": {"price": 5.0, "category": "k"},
            "d": {"price": 5.0, "category": "k"}, "e": {"price": 5.0, "category": "z"}}
    cfg = RankConfig(k=2, min_price=1.0, diversity_lambda=0.3, price_drop_boost=0.0)
    plan = pipeline.candidates(cfg, {"u": user("a")}, Rows(ROWS.covis, ()), {"u": None})
    out = pipeline.rank(cfg, plan, RankInputs(info=info, now=0.0))["u"]
    assert "b" not in out.top                    # under the price floor
    assert out.top == ["c", "e"]                 # diversity lifts the other category
    assert out.shown == []
    explore = RankConfig(k=2, explore=True, diversity_lambda=1.0)
    arms = {"b": (1000, 0), "c": (1000, 0), "d": (1000, 900), "e": (1000, 0)}
    plan = pipeline.candidates(explore, {"u": user("a")}, Rows(ROWS.covis, ()), {"u": None})
    got = pipeline.rank(explore, plan, RankInputs(info={}, now=0.0, arms=arms,
                                                  rng=np.random.default_rng(0)))["u"]
    assert "d" in got.shown and got.top[0] == "d"    # the arm that earns clicks leads
    again = pipeline.rank(explore, plan, RankInputs(info={}, now=0.0, arms=arms,
                                                    rng=np.random.default_rng(0)))["u"]
    assert again.items == got.items                 # seeded


def test_exploration_needs_a_seeded_rng():
    cfg = RankConfig(k=2, explore=True)
    plan = pipeline.candidates(cfg, {"u": user("a")}, ROWS, {"u": None})
    with pytest.raises(ValueError, match="seeded rng"):
        pipeline.rank(cfg, plan, RankInputs(info={}, now=0.0, arms={}))


def test_the_ranking_defaults_are_the_settings_defaults():
    """``RankConfig``'s defaults (for tests and doctests) are those of the settings the
    worker builds it from: they cannot drift apart."""
    from streamrec.streams.settings import Settings

    assert RankConfig() == RankConfig.from_settings(Settings.from_env({}).ranking)
