"""The learned re-ranker: learns an order from viewed candidates, seeded, read-only scoring;
candidate features computed from the blend's co-visitation statistics."""

from __future__ import annotations

import numpy as np

from streamrec.models.ltr import OnlineRanker
from streamrec.models.ranking import BASE_FEATURES, blend_rank, candidate_features


def _lists(rng, n, width=30):
    """Candidate lists whose viewed row is decided by a hidden linear score plus noise."""
    true_w = np.array([2.0, -1.0, 0.0, 0.5])
    scale, offset = np.array([1.0, 3.0, 10.0, 1.0]), np.array([0.0, 5.0, -2.0, 0.0])
    for _ in range(n):
        Z = rng.normal(size=(width, 4))
        X = Z * scale + offset                     # features on their own scales
        viewed = int(np.argmax(Z @ true_w + rng.gumbel(size=width) * 0.3))
        yield X, viewed


def _top1(ranker, lists):
    return np.mean([int(np.argmax(ranker.score(X))) == v for X, v in lists])


def test_learns_the_hidden_order_and_waits_for_warm_up():
    rng = np.random.default_rng(1)
    ranker = OnlineRanker(n_features=4, warm_up=200, seed=0)
    held_out = list(_lists(np.random.default_rng(99), 300))
    untrained = _top1(ranker, held_out)
    for n, (X, v) in enumerate(_lists(rng, 2000)):
        assert ranker.ready == (n >= 200)
        ranker.learn(X, v)
    trained = _top1(ranker, held_out)
    assert untrained < 0.1                   # all-zero weights: the first row, 1 in 30
    assert trained > 0.6, trained
    w = ranker._w
    assert w[0] > 0 and w[1] < 0 and abs(w[2]) < w[0] / 3   # signs of the hidden weights


def test_seeded_and_scoring_is_read_only():
    def trained(seed):
        r = OnlineRanker(n_features=4, negatives=3, seed=seed)
        for X, v in _lists(np.random.default_rng(5), 300):
            r.learn(X, v)
        return r
    a, b, c = trained(0), trained(0), trained(1)
    assert np.array_equal(a._w, b._w) and a._b == b._b
    assert not np.array_equal(a._w, c._w)     # another seed samples other negatives
    X = np.random.default_rng(7).normal(size=(10, 4))
    state = (a._w.copy(), a._b, a._n, a._mean.copy(), a._m2.copy(), a.n_positives)
    first = a.score(X)
    assert np.array_equal(a.score(X), first)
    assert np.array_equal(a._w, state[0]) and (a._b, a._n, a.n_positives) == (
        state[1], state[2], state[5])
    assert np.array_equal(a._mean, state[3]) and np.array_equal(a._m2, state[4])
    assert a.score(np.zeros((0, 4))).shape == (0,)


def test_a_list_of_one_learns_the_positive_only():
    r = OnlineRanker(n_features=2, negatives=4, warm_up=1)
    r.learn(np.array([[1.0, 2.0]]), 0)
    assert r.n_positives == 1 and r._n == 1 and r.ready


def test_candidate_features_follow_the_covisitation_statistics():
    covis = {"new": [("a", 3.0), ("b", 1.0)], "old": [("b", 2.0), ("c", 2.0)]}
    ranked = blend_rank(["new", "old"], covis, [("c", 4.0), ("t", 2.0)], exclude={"new"},
                        k=10, trending_weight=0.1)
    cats = {"a": "x", "b": "y", "c": "y", "t": None, "new": "y", "old": "y"}
    X = candidate_features(ranked, ["new", "old"], covis, [("c", 4.0), ("t", 2.0)], cats)
    row = {item: dict(zip(BASE_FEATURES, X[n], strict=True)) for n, (item, _) in enumerate(ranked)}
    assert [i for i, _ in ranked] == ["b", "a", "c", "t"]
    assert row["b"]["heads_share"] == 1.0 and row["a"]["heads_share"] == 0.5
    assert row["c"]["first_head"] == 0.5 and row["b"]["first_head"] == 0.0
    assert row["b"]["newest_rank"] == np.log1p(1) and row["a"]["newest_rank"] == 0.0
    assert row["c"]["newest_rank"] == np.log1p(100)          # not a neighbour of "new"
    assert row["t"]["heads_share"] == 0.0 and row["t"]["trending"] == 0.5
    assert row["c"]["trending"] == 1.0 and row["a"]["trending"] == 0.0
    assert row["b"]["category_match"] == 1.0 and row["a"]["category_match"] == 0.0
    assert row["t"]["category_match"] == 0.0
    assert [r["blend"] for r in row.values()] == [s for _, s in ranked]
    assert [r["log_position"] for r in row.values()] == list(np.log1p(range(4)))
