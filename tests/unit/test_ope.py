"""Off-policy estimators on simulated logs whose true policy values are known, checked
against a hand computation, and the policies' action probabilities against their pulls."""

import math

import numpy as np
import pytest

from streamrec.models.bandits import UCB1, EpsilonGreedy, LinUCB, RandomPolicy, ThompsonSampling
from streamrec.models.ope import Allocation, FixedPolicy, Round, evaluate, read_jsonl

P_TRUE = np.array([0.1, 0.3, 0.5, 0.7])


def log_from(logging_probs, p_true=P_TRUE, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    acts = rng.choice(len(p_true), size=n, p=logging_probs)
    rewards = rng.random(n) < p_true[acts]
    return [Round(None, int(a), float(r), float(logging_probs[a]))
            for a, r in zip(acts, rewards, strict=True)]


def by_hand(log, pi, clip=None, tau=math.inf):
    """The estimators written out round by round (obp.ope's definitions)."""
    arms = sorted({r.action for r in log})
    n, mean = len(log), sum(r.reward for r in log) / len(log)
    q = {}
    for a in arms:
        got = [r.reward for r in log if r.action == a]
        q[a] = (sum(got) + mean) / (len(got) + 1)
    q_pi = sum(pi[a] * q[a] for a in arms)
    w = [pi[r.action] / r.propensity for r in log]
    if clip is not None:
        w = [min(x, clip) for x in w]
    sw = sum(w)
    return {
        "ipw": sum(wi * r.reward for wi, r in zip(w, log, strict=True)) / n,
        "snipw": sum(wi * r.reward for wi, r in zip(w, log, strict=True)) / sw,
        "dm": q_pi,
        "dr": sum(q_pi + wi * (r.reward - q[r.action]) for wi, r in zip(w, log, strict=True)) / n,
        "sndr": sum(q_pi + wi * (r.reward - q[r.action]) / (sw / n)
                    for wi, r in zip(w, log, strict=True)) / n,
        "switch-dr": sum(q_pi + (wi * (r.reward - q[r.action]) if wi <= tau else 0.0)
                         for wi, r in zip(w, log, strict=True)) / n}


@pytest.mark.parametrize("clip, tau", [(None, math.inf), (3.0, 2.0)])
def test_estimates_equal_a_hand_computation(clip, tau):
    probs = np.array([0.55, 0.25, 0.15, 0.05])
    log = log_from(probs, n=3000, seed=4)
    target = EpsilonGreedy(epsilon=0.3)
    target.add_arms(range(4))
    target.set_stats(range(4), [10, 10, 10, 10], [1, 2, 6, 3])       # greedy on arm 2
    pi = dict(enumerate(target.action_probs(range(4))))
    assert pi[2] == pytest.approx(0.7 + 0.3 / 4)
    est = evaluate(log, target, seed=0, n_boot=20, clip=clip, switch_tau=tau)
    for name, want in by_hand(log, pi, clip, tau).items():
        assert abs(est[name].value - want) < 1e-12, name


def test_ipw_of_the_uniform_policy_on_a_rare_click_log_of_80_arms():
    """The issue's case: 10,000 rounds, CTR near 0.4%, 80 arms, a skewed logger."""
    rng = np.random.default_rng(11)
    p_true = rng.uniform(0.0, 0.008, 80)
    logging = rng.dirichlet(np.ones(80) * 0.5)
    log = log_from(logging, p_true, n=10000, seed=12)
    est = evaluate(log, RandomPolicy(), seed=0, n_boot=300, arms=range(80))
    r, p = np.array([x.reward for x in log]), np.array([x.propensity for x in log])
    assert est["ipw"].value == pytest.approx(((1 / 80) / p * r).sum() / len(log), abs=1e-12)
    assert est["snipw"].value == pytest.approx(
        ((1 / 80) / p * r).sum() / ((1 / 80) / p).sum(), abs=1e-12)
    assert est["ipw"].low <= p_true.mean() <= est["ipw"].high


@pytest.mark.parametrize("skewed", [False, True])
def test_intervals_cover_the_truth_in_90_of_100_repeats(skewed):
    """80 arms, rewards as rare as 0.5% on average: the IPW, SNIPW and DR intervals of a
    stochastic target cover its true value in at least 90 of 100 seeded repeats."""
    rng = np.random.default_rng(5)
    p_true = rng.uniform(0.0, 0.01, 80)          # mean 0.5%
    logging = rng.dirichlet(np.ones(80) * 2.0) if skewed else np.full(80, 1 / 80)
    target = Allocation(dict(enumerate(rng.dirichlet(np.ones(80) * 2.0))))
    truth = float(target.action_probs(range(80)) @ p_true)
    covered = {"ipw": 0, "snipw": 0, "dr": 0}
    for seed in range(100):
        est = evaluate(log_from(logging, p_true, n=20000, seed=100 + seed), target,
                       seed=seed, n_boot=200, arms=range(80))
        for name in covered:
            covered[name] += est[name].low <= truth <= est[name].high
    assert min(covered.values()) >= 90, covered


def test_a_stochastic_target_on_a_uniform_log_recovers_its_on_policy_value():
    rng = np.random.default_rng(8)
    p_true = rng.uniform(0.05, 0.4, 10)
    target = ThompsonSampling(seed=0)
    target.add_arms(range(10))
    target.set_stats(range(10), [20] * 10, (p_true * 20).round())
    on_policy = np.mean([p_true[target.pull()[0]] for _ in range(20000)])
    est = evaluate(log_from(np.full(10, 0.1), p_true, seed=9), target, seed=0, n_boot=200)
    for name in ("ipw", "snipw", "dr"):
        assert est[name].low <= on_policy <= est[name].high, (name, est[name], on_policy)
        assert abs(est[name].value - on_policy) < 0.01


def test_skewed_log_ipw_corrects_the_logging_bias():
    probs = np.array([0.85, 0.05, 0.05, 0.05])
    log = log_from(probs)
    naive = np.mean([r.reward for r in log])
    est = evaluate(log, FixedPolicy(3), seed=2, n_boot=200)
    assert abs(naive - 0.7) > 0.4
    for name in ("ipw", "snipw", "dr", "sndr"):
        assert est[name].low <= 0.7 <= est[name].high and abs(est[name].value - 0.7) < 0.06


def test_replay_of_a_learning_policy_beats_uniform():
    est = evaluate(log_from([0.25] * 4), ThompsonSampling(seed=0), seed=0, n_boot=100)
    assert est["replay"].value > P_TRUE.mean() + 0.1
    assert est["replay"].rounds > 1000


def _pull_freq(policy, n=20000, **kw):
    counts = {}
    for _ in range(n):
        a = policy.pull(**kw)[0]
        counts[a] = counts.get(a, 0) + 1
    return np.array([counts.get(a, 0) / n for a in policy.arms])


@pytest.mark.parametrize("make", [
    lambda: EpsilonGreedy(epsilon=0.2, seed=1), lambda: UCB1(seed=1),
    lambda: RandomPolicy(seed=1), lambda: ThompsonSampling(seed=1)])
def test_action_probabilities_are_what_pull_does(make):
    policy = make()
    policy.add_arms("abcd")
    policy.set_stats("abcd", [5, 5, 5, 0], [1, 3, 3, 0])    # a tie (b, c); d unplayed
    p = policy.action_probs(draws=20000, seed=3)
    assert p.sum() == pytest.approx(1.0)
    assert np.abs(p - _pull_freq(policy)).max() < 4 * math.sqrt(0.25 / 20000) + 0.01


def test_exact_probabilities_of_epsilon_greedy_ucb_and_thompson():
    eps = EpsilonGreedy(epsilon=0.2)
    eps.add_arms("ab")
    eps.set_stats("ab", [4, 4], [1, 3])
    assert eps.action_probs().tolist() == pytest.approx([0.1, 0.9])
    ucb = UCB1()
    ucb.add_arms("abc")
    ucb.set_stats("abc", [3, 3, 0], [1, 1, 0])
    assert ucb.action_probs().tolist() == [0.0, 0.0, 1.0]     # unplayed first
    ts = ThompsonSampling()                 # Beta(2, 1) against Beta(1, 1): P = 2/3
    ts.add_arms("ab")
    ts.set_stats("ab", [1, 0], [1, 0])
    assert ts.action_probs(draws=200000, seed=0)[0] == pytest.approx(2 / 3, abs=0.005)
    lin = LinUCB(dim=2, seed=0)
    lin.add_arms("ab")
    lin.update_many(["a", "b"], [1.0, 0.0], [np.array([1.0, 0.0])] * 2)
    x = np.array([1.0, 0.0])
    assert lin.action_probs(context=x).tolist() == [1.0, 0.0] == \
        [float(a == lin.pull(context=x)[0]) for a in "ab"]


def test_bad_propensity_and_bad_lines_are_named():
    with pytest.raises(ValueError, match="round 0: propensity"):
        evaluate([Round(None, 0, 1.0, 0.0)], FixedPolicy(0))
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(['{"action": 1, "reward": 0, "propensity": 0.5}', '{"action": 1}'])
    rounds = read_jsonl(['{"context": [1, 0], "action": "a", "reward": 1, "propensity": 0.5}'])
    assert rounds[0].action == "a" and rounds[0].context.tolist() == [1.0, 0.0]


def test_the_rare_click_bench_runs_on_a_thompson_log(capsys):
    from streamrec.bench.ope_rare import main, thompson_log

    log, _ = thompson_log(500, 100, seed=1)
    assert all(0 < r.propensity <= 1 for r in log)
    main(300, 50)
    out = capsys.readouterr().out
    assert "hand: IPW" in out and "snipw" in out
