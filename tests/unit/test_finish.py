"""The last ranking stages of a list (models/finish.py), with no server."""

import numpy as np
import pytest

from streamrec.models.finish import finish

RANKED = [(f"i{n}", 1.0 - n / 20) for n in range(10)]
INFO = {i: {"price": 5.0, "category": f"c{n % 3}"} for n, (i, _) in enumerate(RANKED)}
CATS = {i: d["category"] for i, d in INFO.items()}


def test_exploration_shows_k_of_the_list_and_is_seeded():
    a = finish(RANKED, INFO, CATS, k=4, arms={}, rng=np.random.default_rng(3))
    b = finish(RANKED, INFO, CATS, k=4, arms={}, rng=np.random.default_rng(3))
    out, shown, props = a
    assert a == b and len(shown) == 4 and len(props) == 4
    assert all(0 < p <= 1 for p in props)
    assert [i for i, _ in out[:4]] == shown                 # the explored top-K first
    assert sorted(i for i, _ in out) == sorted(i for i, _ in RANKED[:8])   # MMR to 2K


def test_clicked_arms_are_shown_more_often_than_ignored_ones():
    arms = {"i9": (200, 150), "i0": (200, 0)}   # i9 (ranked last): clicked a lot; i0: never
    rng = np.random.default_rng(0)
    shown = [finish(RANKED, INFO, CATS, k=5, arms=arms, rng=rng)[1] for _ in range(200)]
    assert sum("i9" in s for s in shown) > sum("i0" in s for s in shown)


def test_the_price_floor_and_diversity_apply_without_exploration():
    info = {**INFO, "i1": {"price": 0.2, "category": "c1"}}
    out, shown, _ = finish(RANKED, info, CATS, k=3, min_price=1.0, lam=0.0)
    assert shown == [] and "i1" not in [i for i, _ in out]
    assert len({CATS[i] for i, _ in out[:3]}) == 3           # lam 0: diversity first


def test_exploring_needs_a_seeded_rng():
    with pytest.raises(ValueError, match="seeded rng"):
        finish(RANKED, INFO, CATS, k=3, arms={})
