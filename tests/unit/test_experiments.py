from collections import Counter

import numpy as np
import pytest

from streamrec.models.experiments import (
    Experiment,
    ExperimentError,
    VariantStats,
    assign_sticky,
    choose_variant,
    report,
    wilson,
)


@pytest.mark.parametrize("body, message", [
    ({"name": "e", "variants": []}, "variants must be a non-empty list"),
    ({"name": "e"}, "variants must be a non-empty list"),
    ({"name": "e", "variants": ["blend", "nope"]}, "unknown variants ['nope']"),
    ({"name": "e", "variants": ["blend", "covisit"], "weights": [0.7, 0.7]},
     "weights must sum to 1"),
    ({"name": "e", "variants": ["blend", "covisit"], "weights": [1.0]},
     "one non-negative number per variant"),
    ({"name": "bad name!", "variants": ["blend"]}, "name must be"),
    ({"name": "e", "variants": ["blend"], "allocation": "magic"}, "allocation must be"),
    ({"name": "e", "variants": ["blend", "blend"]}, "distinct"),
    ({"name": "e", "variants": ["blend"], "colour": "red"}, "unknown fields: colour"),
])
def test_bad_definitions_say_what_to_fix(body, message):
    with pytest.raises(ExperimentError) as e:
        Experiment.from_dict(body)
    assert message in str(e.value)


def test_fixed_split_is_sticky_and_follows_weights():
    exp = Experiment.from_dict({"name": "s", "variants": ["blend", "trending"],
                                "weights": [0.8, 0.2]})
    counts = Counter(assign_sticky(f"u{i}", exp) for i in range(20000))
    assert counts["blend"] / 20000 == pytest.approx(0.8, abs=0.015)
    assert all(assign_sticky(f"u{i}", exp) == assign_sticky(f"u{i}", exp) for i in range(100))


def test_bandit_allocation_moves_traffic_to_the_better_variant():
    exp = Experiment.from_dict({"name": "b", "variants": ["blend", "covisit", "trending"],
                                "allocation": "bandit"})
    true_ctr = {"blend": 0.10, "covisit": 0.15, "trending": 0.05}
    env, rng = np.random.default_rng(0), np.random.default_rng(1)
    stats = {v: VariantStats() for v in exp.variants}
    served = []
    for i in range(6000):
        v = choose_variant(f"u{i}", exp, stats, rng)
        stats[v].impressions += 1
        stats[v].successes += int(env.random() < true_ctr[v])
        served.append(v)
    last = Counter(served[-2000:])
    assert last["covisit"] > 0.6 * 2000
    assert report(exp, stats)["covisit"]["p_best"] > 0.8


def test_paused_experiment_serves_control():
    exp = Experiment.from_dict({"name": "p", "variants": ["trending", "blend"],
                                "allocation": "bandit"})
    exp.status = "paused"
    rng = np.random.default_rng(0)
    assert {choose_variant(f"u{i}", exp, {}, rng) for i in range(50)} == {"trending"}


def test_wilson_interval_contains_the_rate_and_narrows():
    lo1, hi1 = wilson(10, 100)
    lo2, hi2 = wilson(100, 1000)
    assert lo1 < 0.1 < hi1 and lo2 < 0.1 < hi2 and hi2 - lo2 < hi1 - lo1
    assert wilson(0, 0) == (0.0, 1.0)


def test_report_regret_is_zero_for_the_best_and_grows_with_traffic():
    exp = Experiment.from_dict({"name": "r", "variants": ["blend", "trending"]})
    r = report(exp, {"blend": VariantStats(1000, 200), "trending": VariantStats(1000, 100)})
    assert r["blend"]["regret"] == 0.0 and r["trending"]["regret"] == pytest.approx(100, rel=0.02)


@pytest.mark.parametrize("bad", ["abc", None, float("nan"), float("inf"), -1, True])
def test_reward_click_must_be_a_finite_number(bad):
    # "abc" was accepted with 201, then crashed the worker on every attributed click
    with pytest.raises(ExperimentError, match="reward_click"):
        Experiment.from_dict({"name": "e", "variants": ["blend"], "reward_click": bad})
