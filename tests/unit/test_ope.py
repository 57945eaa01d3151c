"""Off-policy estimators on simulated logs whose true policy values are known."""

import numpy as np
import pytest

from streamrec.models.bandits import ThompsonSampling
from streamrec.models.ope import FixedPolicy, Round, evaluate, read_jsonl

P_TRUE = np.array([0.1, 0.3, 0.5, 0.7])


def log_from(logging_probs, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = int(rng.choice(4, p=logging_probs))
        out.append(Round(None, a, float(rng.random() < P_TRUE[a]), float(logging_probs[a])))
    return out


@pytest.mark.parametrize("arm", [0, 3])
def test_uniform_log_all_estimators_recover_the_true_value(arm):
    est = evaluate(log_from([0.25] * 4), FixedPolicy(arm), seed=1, n_boot=200)
    for name in ("replay", "ipw", "snips"):
        e = est[name]
        assert e.low <= P_TRUE[arm] <= e.high, (name, e)
        assert abs(e.value - P_TRUE[arm]) < 0.03


def test_skewed_log_ipw_corrects_the_logging_bias():
    # the logging policy mostly plays arm 0; naive averaging of the logged rewards is far
    # from the target's value, IPW and SNIPS are not
    probs = np.array([0.85, 0.05, 0.05, 0.05])
    log = log_from(probs)
    naive = np.mean([r.reward for r in log])
    est = evaluate(log, FixedPolicy(3), seed=2, n_boot=200)
    assert abs(naive - 0.7) > 0.4
    for name in ("ipw", "snips"):
        assert est[name].low <= 0.7 <= est[name].high and abs(est[name].value - 0.7) < 0.06


def test_replay_of_a_learning_policy_beats_uniform():
    est = evaluate(log_from([0.25] * 4), ThompsonSampling(seed=0), seed=0, n_boot=100)
    assert est["replay"].value > P_TRUE.mean() + 0.1
    assert est["replay"].matched > 1000


def test_bad_propensity_and_bad_lines_are_named():
    with pytest.raises(ValueError, match="round 0: propensity"):
        evaluate([Round(None, 0, 1.0, 0.0)], FixedPolicy(0))
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(['{"action": 1, "reward": 0, "propensity": 0.5}', '{"action": 1}'])
    rounds = read_jsonl(['{"context": [1, 0], "action": "a", "reward": 1, "propensity": 0.5}'])
    assert rounds[0].action == "a" and rounds[0].context.tolist() == [1.0, 0.0]
