"""River models learn from a seeded slice of the real data; scoring never mutates them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from streamrec.models.events import CatalogChange, Interaction
from streamrec.models.online import ImplicitMF
from streamrec.models.online_learner import OnlineLearner
from streamrec.streams.exceptions import DataMissing
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings


@pytest.fixture(scope="module")
def data():
    try:
        path = Settings.from_env().resolved_data_dir()
    except DataMissing as e:
        pytest.skip(str(e))
    return read_ratings(path, 60), read_catalog(path)   # first 60 users, fixed


def stream(ratings):
    for kind, ev in events_from_ratings(ratings):
        yield Interaction(ev["event_id"], kind, ev["user_id"], ev["item_id"], ev["ts"])


def test_ctr_model_auc_rises_above_chance(data):
    ratings, catalog = data
    L = OnlineLearner(seed=0)
    for c in catalog:
        L.catalog_change(CatalogChange(c["item_id"], c["stock"], c["price"], c["category"]))
    for ev in stream(ratings):
        L.learn(ev)
    m = L.metrics()
    assert m["ctr_examples"] > 5000
    assert m["ctr_auc"] > 0.6, m


def test_mf_ranks_held_out_positives_above_random_items(data):
    ratings, _ = data
    by_user: dict[str, list[str]] = {}
    for u, i, _, _ in ratings:
        by_user.setdefault(u, []).append(i)
    mf = ImplicitMF(n_factors=16, seed=0)
    for _ in range(3):
        for u, items in by_user.items():
            for i in items[:-1]:
                mf.learn_one(u, i)
    rng = np.random.default_rng(0)
    all_items = sorted({i for _, i, _, _ in ratings})
    wins = []
    for u, items in by_user.items():
        negs = [all_items[j] for j in rng.integers(len(all_items), size=50)]
        s = mf.score(u, [items[-1], *negs])
        wins.append(np.mean(s[0] > s[1:]))
    assert np.mean(wins) > 0.6, np.mean(wins)   # chance = 0.5


def test_scoring_does_not_mutate_and_snapshots_restore_identical_scores(data):
    ratings, catalog = data
    L = OnlineLearner(seed=1)
    for c in catalog[:2000]:
        L.catalog_change(CatalogChange(c["item_id"], c["stock"], c["price"], c["category"]))
    for n, ev in enumerate(stream(ratings)):
        if n > 3000:
            break
        L.learn(ev)
    before = pickle.dumps(L)
    items = [c["item_id"] for c in catalog[:300]] + ["never-seen-item"]
    s1 = L.score("1", items, 1e9)
    L.score("never-seen-user", items, 1e9)
    assert pickle.dumps(L) == before                      # reads never write
    restored = pickle.loads(before)
    assert np.allclose(restored.score("1", items, 1e9), s1)


def trained(data) -> tuple[OnlineLearner, list[dict]]:
    """A learner that has seen the catalog and the first 3,000 ratings."""
    ratings, catalog = data
    L = OnlineLearner(seed=0)
    for c in catalog:
        L.catalog_change(CatalogChange(c["item_id"], c["stock"], c["price"], c["category"]))
    for ev in stream(ratings[:3000]):
        L.learn(ev)
    return L, catalog


def test_vectorised_ctr_scores_equal_rivers_one_by_one(data):
    L, catalog = trained(data)
    items = [c["item_id"] for c in catalog[:300]] + ["never-seen-item"]
    xs = [L.features(u, i, 1e9) for u in ("1", "5", "nobody") for i in items]
    many = L.ctr.predict_proba_many(xs)
    one = np.array([L.ctr.predict_proba(x) for x in xs])
    assert np.allclose(many, one, rtol=0, atol=1e-12)
    assert many.std() > 0.01            # not a constant: the model has learned something
    assert len(L.ctr.predict_proba_many([])) == 0


def test_score_parts_equal_the_models_one_item_at_a_time(data):
    """The learner scores a list without a feature dict per item (``predict_proba_rows``)
    and the MF with one matrix product: both equal River's per-item answers."""
    L, catalog = trained(data)
    items = [c["item_id"] for c in catalog[:300]] + ["never-seen-item"]
    for user in ("1", "5", "nobody"):
        mf, ctr = L.score_parts(user, items, 1e9)
        one = np.array([L.ctr.predict_proba(L.features(user, i, 1e9)) for i in items])
        assert np.allclose(ctr, one, rtol=0, atol=1e-12)
        m = L.mf._model
        ref = [m.global_mean.get() + m.u_biases.get(user, 0.0) + m.i_biases.get(i, 0.0)
               + (float(np.dot(m.u_latents[user], m.i_latents[i]))
                  if user in m.u_latents and i in m.i_latents else 0.0) for i in items]
        assert np.allclose(mf, ref, rtol=0, atol=1e-12)
    assert ctr.std() > 0.01 and mf.std() > 0.01


def reference_parts(L: OnlineLearner, user: str, items: list[str]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """River's own answers, one item at a time: the MF's prediction and the CTR's."""
    m = L.mf._model
    mf = [m.global_mean.get() + m.u_biases.get(user, 0.0) + m.i_biases.get(i, 0.0)
          + (float(np.dot(m.u_latents[user], m.i_latents[i]))
             if user in m.u_latents and i in m.i_latents else 0.0) for i in items]
    ctr = [L.ctr.predict_proba(L.features(user, i, 1e9)) for i in items]
    return np.array(mf), np.array(ctr)


def test_score_parts_stay_equal_to_river_while_it_learns_and_forgets(data):
    """The models' rows copied for scoring (``models/param_rows.py``) follow every update:
    scored between learning steps, after a user is forgotten and for items learned only
    after their first scoring, the scores stay River's."""
    ratings, catalog = data
    L, _ = trained(data)
    later = list(stream(ratings[3000:3400]))
    items = sorted({ev.item_id for ev in later})[:80] + [c["item_id"] for c in catalog[:40]]
    users = sorted({ev.user_id for ev in later})
    for n, ev in enumerate(later):
        L.learn(ev)
        if n % 25 == 0:
            for user in (ev.user_id, users[0]):
                mf, ctr = L.score_parts(user, items, 1e9)
                ref_mf, ref_ctr = reference_parts(L, user, items)
                assert np.allclose(mf, ref_mf, rtol=0, atol=1e-12), (n, user)
                assert np.allclose(ctr, ref_ctr, rtol=0, atol=1e-12), (n, user)
        if n == 200:
            L.forget(users[0])
    before = L.score_parts(users[1], items, 1e9)
    assert np.allclose(before[1], reference_parts(L, users[1], items)[1], rtol=0, atol=1e-12)
    restored = pickle.loads(pickle.dumps(L))       # snapshots leave the rows out
    assert "_rows" not in restored.ctr.__dict__ and "_rows" not in restored.mf.__dict__
    after = restored.score_parts(users[1], items, 1e9)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_score_parts_follow_a_catalog_change_and_snapshots_leave_the_cache_out(data):
    L, catalog = trained(data)
    items = [c["item_id"] for c in catalog[:50]]
    before = L.score_parts("1", items, 1e9)[1]
    L.catalog_change(CatalogChange(items[0], stock=0, price=catalog[0]["price"] / 2))
    after = L.score_parts("1", items, 1e9)[1]
    one = L.ctr.predict_proba(L.features("1", items[0], 1e9))
    assert after[0] == pytest.approx(one, abs=1e-12) and after[0] != before[0]
    assert np.array_equal(after[1:], before[1:])
    assert "_parts" not in pickle.loads(pickle.dumps(L)).__dict__
