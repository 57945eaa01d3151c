"""The user profile: sessions, the category cap, and the ranker features it gives."""

from __future__ import annotations

import math

from streamrec.models.profile import MAX_CATEGORIES, SESSION_GAP_S, Profile
from streamrec.models.ranking import BASE_FEATURES, candidate_features
from streamrec.models.userstate import UserState


def test_sessions_follow_the_session_id_else_the_inactivity_gap():
    p = Profile()
    p.observe("view", None, None, ts=0.0, session_id="s1")
    p.observe("view", None, None, ts=SESSION_GAP_S * 3, session_id="s1")   # same id: same
    assert p.session == ["s1", 0.0, 2]
    p.observe("view", None, None, ts=SESSION_GAP_S * 3 + 1, session_id="s2")
    assert p.session == ["s2", SESSION_GAP_S * 3 + 1, 1]
    q = Profile()
    for ts in (0.0, SESSION_GAP_S - 1, 2 * SESSION_GAP_S - 2):   # each gap from the last event
        q.observe("view", None, None, ts=ts)
    assert q.session == [None, 0.0, 3]
    q.observe("view", None, None, ts=4 * SESSION_GAP_S + 1)
    assert q.session == [None, 4 * SESSION_GAP_S + 1, 1]


def test_the_heaviest_categories_are_kept_and_purchases_weigh_most():
    p = Profile()
    p.observe("purchase", "old-but-bought", 5.0, ts=0.0)
    for n in range(MAX_CATEGORIES + 5):
        p.observe("view", f"c{n}", None, ts=float(n))
    assert len(p.cats) == MAX_CATEGORIES and "old-but-bought" in p.cats
    assert p.affinity("old-but-bought") == max(p.affinity(c) for c in p.cats)
    assert p.affinity("never") == 0.0 and p.sensitivity() is None      # nothing viewed priced


def test_the_state_round_trips_with_its_profile():
    st = UserState()
    st.observe("a", "view", recent_cap=5, seen_cap=5, ts=3.0, category="x", price=9.0)
    back = UserState.from_json(st.to_json())
    assert back == st and back.profile.viewed == [9.0]
    assert UserState.from_json({"r": ["a"], "s": ["a"], "b": [], "t": 1.0}).profile == Profile()


def test_the_ranker_sees_the_profiles_affinity_and_price_fit():
    p = Profile()
    for _ in range(3):
        p.observe("view", "tents", 100.0, ts=0.0)
    p.observe("view", "stoves", 100.0, ts=1.0)
    ranked = [("tent", 1.0), ("stove", 0.5), ("cheap", 0.2)]
    cats = {"tent": "tents", "stove": "stoves", "cheap": None}
    X = candidate_features(ranked, ["x"], {}, (), cats, p,
                           {"tent": 100.0, "stove": 400.0, "cheap": None})
    col = {name: X[:, n].round(4).tolist() for n, name in enumerate(BASE_FEATURES)}
    total = 1 + 0.95 * (1 + 0.95 * (1 + 0.95))
    assert col["profile_affinity"] == [round((total - 1) / total, 4), round(1 / total, 4), 0.0]
    assert col["price_fit"] == [1.0, round(math.exp(-math.log(4.0)), 4), 0.0]
    blank = candidate_features(ranked, ["x"], {}, (), cats)
    assert blank[:, -2:].tolist() == [[0.0, 0.0]] * 3
