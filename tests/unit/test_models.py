import math
import random

from streamrec.models.covisit import CoVisitation, pairs_for
from streamrec.models.popularity import DecayedPopularity
from streamrec.models.ranking import blend_rank, trending_list
from streamrec.models.userstate import UserState


def test_pairs_skip_same_item_and_respect_window():
    assert pairs_for("a", ["a", "b", "c", "d"], window=2) == [
        ("b", "a", 1.0), ("a", "b", 1.0), ("c", "a", 0.5), ("a", "c", 0.5)]
    assert pairs_for("a", [], window=3) == []


def test_covisitation_finds_items_that_go_together():
    rng = random.Random(0)
    cv = CoVisitation(window=3)
    for _ in range(200):  # sessions mixing a fixed bundle with noise
        noise = [f"n{rng.randrange(50)}" for _ in range(3)]
        seq = noise[:1] + ["tent", "stove"] + noise[1:]
        cv.learn_sequence(seq)
    assert cv.neighbours("tent", 1)[0][0] == "stove"


def test_decayed_popularity_matches_brute_force_and_survives_rebase():
    rng = random.Random(1)
    hl = 100.0
    p = DecayedPopularity(half_life=hl)
    events = sorted((rng.uniform(0, 20_000), f"i{rng.randrange(20)}") for _ in range(2000))
    for ts, item in events:  # spans 200 half-lives: forces rebases
        p.learn(item, ts)
    now = events[-1][0]
    for item in {i for _, i in events}:
        brute = sum(0.5 ** ((now - ts) / hl) for ts, i in events if i == item)
        assert math.isclose(p.score(item, now), brute, rel_tol=1e-9, abs_tol=1e-12)
    top = [i for i, _ in p.top(3)]
    assert top == sorted(top, key=lambda i: -p.score(i, now))


def test_blend_rank_excludes_and_orders():
    covis = {"a": [("x", 3.0), ("y", 1.0), ("sold", 5.0)]}
    trending = [("t", 1.0), ("x", 0.5)]
    ranked = blend_rank(["a"], covis, trending, exclude={"sold", "a"}, k=10, trending_weight=0.1)
    assert [i for i, _ in ranked] == ["x", "y", "t"]
    assert blend_rank(["a"], covis, trending, exclude=set(), k=1, trending_weight=0)[0][0] == "sold"


def test_blend_rank_newer_history_counts_more():
    covis = {"new": [("n", 1.0)], "old": [("o", 1.0)]}
    ranked = blend_rank(["new", "old"], covis, [], exclude=set(), k=2, trending_weight=0)
    assert [i for i, _ in ranked] == ["n", "o"]


def test_trending_list_for_cold_users():
    assert trending_list([("a", 4.0), ("b", 2.0)], {"a"}, 5) == [("b", 0.5)]


def test_userstate_is_idempotent_under_replay():
    s = UserState()
    events = [("a", "view"), ("b", "view"), ("b", "purchase"), ("c", "view")]
    for item, kind in events:
        s.observe(item, kind, recent_cap=5, seen_cap=5)
    once = s.to_json()
    for item, kind in events[-2:]:  # a replay of the tail
        s.observe(item, kind, recent_cap=5, seen_cap=5)
    assert s.to_json()["b"] == once["b"] and sorted(s.seen) == sorted(once["s"])
    assert s.bought == ["b"]


def test_userstate_caps():
    s = UserState()
    for i in range(10):
        s.observe(str(i), "view", recent_cap=3, seen_cap=4)
    assert s.recent == ["9", "8", "7"] and s.seen == ["6", "7", "8", "9"]
