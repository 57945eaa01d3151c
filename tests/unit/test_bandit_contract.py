"""One contract suite over every bandit policy (like River's test_estimators.py)."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

from streamrec.models import bandits
from streamrec.models.bandits import LinUCB, Policy, RandomPolicy


def all_policies() -> list[Policy]:
    out = []
    for _, cls in inspect.getmembers(bandits, inspect.isclass):
        if issubclass(cls, Policy) and cls is not Policy:
            out.append(cls(dim=1, seed=7) if cls is LinUCB else cls(seed=7))
    return out


POLICIES = all_policies()
IDS = [type(p).__name__ for p in POLICIES]
CTX = np.ones(1)


def ctx(policy):
    return CTX if isinstance(policy, LinUCB) else None


def run_env(policy, probs, rounds, env_seed=0):
    env = np.random.default_rng(env_seed)
    policy.add_arms(range(len(probs)))
    chosen = []
    for _ in range(rounds):
        arm = policy.pull(context=ctx(policy))[0]
        policy.update(arm, float(env.random() < probs[arm]), context=ctx(policy))
        chosen.append(arm)
    return chosen


def test_every_policy_is_covered():
    assert {type(p).__name__ for p in POLICIES} == {
        "ThompsonSampling", "UCB1", "EpsilonGreedy", "LinUCB", "RandomPolicy"}


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_learns_best_arm_within_budget(policy):
    """Seeded 10-arm Bernoulli environment, 4,000 rounds: the best arm (p=0.6 vs <= 0.4)
    gets most of the last 1,000 pulls; the random control gets about 1/10."""
    probs = [0.1, 0.2, 0.3, 0.4, 0.6, 0.15, 0.25, 0.35, 0.05, 0.3]
    chosen = run_env(policy.clone(), probs, 4000)
    share = np.mean(np.array(chosen[-1000:]) == 4)
    if isinstance(policy, RandomPolicy):
        assert 0.05 < share < 0.16
    else:
        assert share > 0.6, f"{policy!r} picked the best arm {share:.0%} of the time"


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_retired_arms_are_never_chosen_and_can_return(policy):
    p = policy.clone()
    p.add_arms(["a", "b", "c"])
    for _ in range(50):
        p.update("b", 1.0, context=ctx(p))
    p.retire(["b"])
    picks = {a for _ in range(200) for a in p.pull(k=2, context=ctx(p))}
    assert picks == {"a", "c"}
    assert p.stats("b") == (50, 50.0)
    p.add_arms(["b"])
    assert "b" in p.pull(k=3, context=ctx(p))


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_same_seed_same_choices(policy):
    a = run_env(policy.clone(), [0.3, 0.5, 0.4], 300)
    b = run_env(policy.clone(), [0.3, 0.5, 0.4], 300)
    assert a == b


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_pickle_round_trip_keeps_state_and_rng(policy):
    p = policy.clone()
    run_env(p, [0.2, 0.7], 100)
    q = pickle.loads(pickle.dumps(p))
    assert [p.pull(k=2, context=ctx(p)) for _ in range(20)] == \
        [q.pull(k=2, context=ctx(q)) for _ in range(20)]


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_clone_is_untrained_with_same_params(policy):
    p = policy.clone()
    run_env(p, [0.2, 0.7], 50)
    c = p.clone()
    assert repr(c) == repr(p) and c.arms == [] and c._t == 0


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_slate_is_distinct_and_restricted_to_candidates(policy):
    p = policy.clone()
    p.add_arms(range(100))
    slate = p.pull(arms=[3, 5, 7, 9, 11], k=3, context=ctx(p))
    assert len(slate) == 3 and len(set(slate)) == 3 and set(slate) <= {3, 5, 7, 9, 11}
    assert len(p.pull(k=500, context=ctx(p))) == 100


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_reads_do_not_create_state(policy):
    p = policy.clone()
    p.add_arms(["a"])
    assert p.stats("never-seen") == (0, 0.0)
    assert p.arms == ["a"]


def test_thompson_prior_from_model_scores_steers_first_pulls():
    p = bandits.ThompsonSampling(prior_strength=200.0, seed=1)
    p.set_prior({"likely": 0.9, "unlikely": 0.1})
    assert sum(p.pull()[0] == "likely" for _ in range(100)) > 95


def test_epsilon_decays():
    p = bandits.EpsilonGreedy(epsilon=0.5, decay=0.01, seed=0)
    p.add_arms(["a"])
    for _ in range(100):
        p.update("a", 1.0)
    assert p.current_epsilon == pytest.approx(0.5 * np.exp(-1.0))


@pytest.mark.parametrize("kwargs", [dict(alpha=0), dict(beta=-1)])
def test_bad_params_fail_at_construction(kwargs):
    with pytest.raises(ValueError):
        bandits.ThompsonSampling(**kwargs)


@pytest.mark.parametrize("policy", [p for p in POLICIES if not isinstance(p, LinUCB)],
                         ids=[i for i, p in zip(IDS, POLICIES, strict=True)
                              if not isinstance(p, LinUCB)])
def test_shared_stats_load_like_learned_ones(policy):
    learned, loaded = policy.clone(), policy.clone()
    run_env(learned, [0.2, 0.7, 0.4], 500)
    arms = learned.arms
    loaded.set_stats(arms, [learned.stats(a)[0] for a in arms],
                     [learned.stats(a)[1] for a in arms])
    assert [loaded.stats(a) for a in arms] == [learned.stats(a) for a in arms]
    assert loaded._t == learned._t
