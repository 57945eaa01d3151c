"""Long-term reward: session Q-learning, per-decision importance sampling, the session
simulator and the impression log's sessions (models/longterm.py, models/session_sim.py,
streams/tools/longterm.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streamrec.models import session_sim as sim
from streamrec.models.longterm import SessionQ, SessionState, Step, discounted_return, pdis
from streamrec.streams import schemas
from streamrec.streams.tools import longterm


def bait_or_hook(q: SessionQ, episodes: int) -> None:
    """Two-step sessions: ``bait`` pays 1 now and the user leaves; ``hook`` pays nothing
    now and the user stays for a second list, where ``bait`` pays 5."""
    for _ in range(episodes):
        s0 = SessionState(0, None, False)
        a = q.choose(s0)
        if a == "bait":
            q.update(s0, a, 1.0, None)
            continue
        s1 = SessionState(1, None, False)
        q.update(s0, a, 0.0, s1)
        a1 = q.choose(s1)
        q.update(s1, a1, 5.0 if a1 == "bait" else 0.0, None)


def test_q_learning_gives_up_a_click_now_for_a_purchase_later_and_myopia_does_not():
    far = SessionQ(["bait", "hook"], [], gamma=0.9, epsilon=0.2, shrink=0, seed=1)
    near = SessionQ(["bait", "hook"], [], gamma=0.0, epsilon=0.2, shrink=0, seed=1)
    bait_or_hook(far, 400)
    bait_or_hook(near, 400)
    s0 = SessionState(0, None, False)
    assert far.values(s0)[1] == pytest.approx(4.5, abs=0.05)     # 0 + 0.9 x 5
    assert far.values(s0)[0] == pytest.approx(1.0)
    assert far.action_probs(s0).tolist() == pytest.approx([0.1, 0.9])
    assert near.action_probs(s0).tolist() == pytest.approx([0.9, 0.1])


def test_rare_states_lean_on_the_pooled_values():
    q = SessionQ(["a", "b"], ["x"], gamma=0.0, epsilon=0.0, shrink=10, seed=0)
    common, rare = SessionState(0, "x", False), SessionState(5, "x", True)
    for _ in range(100):
        q.update(common, "a", 1.0, None)
        q.update(common, "b", 0.0, None)
    q.update(rare, "b", 2.0, None)          # one visit: 2.0 against a pool of b ~ 0.02
    assert q.values(rare)[1] == pytest.approx((1 * 2.0 + 10 * (2.0 / 101)) / 11)
    assert q.values(rare)[0] == pytest.approx(10 * 1.0 / 10)   # never seen here: the pool's


def test_pdis_equals_a_hand_computation():
    s = [SessionState(t, None, False) for t in range(3)]
    log = [[Step(s[0], "a", 1.0, 0.5), Step(s[1], "b", 2.0, 0.25), Step(s[2], "a", 4.0, 0.5)],
           [Step(s[0], "b", 3.0, 0.5)]]
    target = {0: [0.8, 0.2], 1: [0.5, 0.5], 2: [1.0, 0.0]}
    got = pdis(log, lambda st: np.array(target[st.step]), ["a", "b"], gamma=0.5)
    w0, w1, w2 = 0.8 / 0.5, 0.8 / 0.5 * 0.5 / 0.25, 0.8 / 0.5 * 0.5 / 0.25 * 1.0 / 0.5
    assert got.tolist() == pytest.approx([w0 * 1 + 0.5 * w1 * 2 + 0.25 * w2 * 4, 0.2 / 0.5 * 3])
    clipped = pdis(log, lambda st: np.array(target[st.step]), ["a", "b"], 0.5, clip=2.0)
    assert clipped[0] == pytest.approx(1.6 * 1 + 0.5 * 2.0 * 2 + 0.25 * 2.0 * 4)
    assert discounted_return([1.0, 2.0, 4.0], 0.5) == 3.0


def test_steps_know_which_variant_held_the_next_item_before_it_was_learned():
    e = [sim.SimEvent("u1", "a", 0.0, 0.0, "c1"), sim.SimEvent("u1", "b", 10.0, 1.0, "c1"),
         sim.SimEvent("u2", "a", 20.0, 0.0, "c1"), sim.SimEvent("u2", "b", 30.0, 5.0, "c1"),
         sim.SimEvent("u2", "z", 9999.0, 0.0, "c2")]     # after a gap: a new session
    sessions = sim.build_steps(e, k=20)
    # u2's session closed first (the gap): its a->b was learned from u1 by co-visitation;
    # u1's a->b came before anything was learned. z alone makes no step.
    assert [[(st.hits, st.value) for st in s] for s in sessions] == [
        [((True, False, False), 5.0)], [((False, False, False), 1.0)]]
    # trending and the category's top follow the stream (recomputed every REFRESH_EVERY)
    crowd = [sim.SimEvent(f"c{n}", "hit", float(n), 0.0, "c1")
             for n in range(sim.REFRESH_EVERY + 1)]
    later = [sim.SimEvent("me", "a", 500.0, 0.0, "c1"), sim.SimEvent("me", "hit", 501.0, 1.0,
                                                                     "c1")]
    assert sim.build_steps(crowd + later, k=1)[0][0].hits == (False, True, True)


def test_simulation_is_seeded_and_a_policy_that_never_hits_earns_nothing():
    rng = random.Random(0)
    sessions = [[sim.SimStep("c", (rng.random() < 0.5, False, rng.random() < 0.2),
                             rng.choice((0.0, 1.0, 9.0))) for _ in range(rng.randint(1, 8))]
                for _ in range(300)]
    kw = {"gamma": 0.9, "leave_after_miss": 0.3, "seed": 4}
    assert sim.simulate(sessions, sim.Fixed("trending"), **kw).sum() == 0.0
    one = sim.simulate(sessions, sim.Fixed("covisit"), **kw)
    assert np.array_equal(one, sim.simulate(sessions, sim.Fixed("covisit"), **kw))
    assert one.mean() > sim.simulate(sessions, sim.Fixed("category"), **kw).mean()


def test_impression_log_becomes_sessions_with_values_and_propensities():
    def shown(i, user, ts, variant, p):
        return schemas.encode(schemas.Impression(i, user, ts, "blend", [], [], "e", variant,
                                                 ["blend", "covisit"], p))

    def reward(i, ev, kind, value):
        return schemas.encode(schemas.ImpressionReward(i, "x", ev, kind, 0.0, value))
    log = [shown("i1", "u", 0.0, "blend", 0.5), shown("i2", "u", 60.0, "covisit", 0.4),
           shown("i3", "u", 9000.0, "blend", 0.7), reward("i1", "e1", "click", 1.0),
           reward("i1", "e1", "click", 1.0), reward("i2", "e2", "purchase", 12.5)]
    got = longterm.impression_sessions(log)
    assert [[(st.state.step, st.state.clicked, st.action, st.reward, st.propensity)
             for st in s] for s in got] == [
        [(0, False, "blend", 1.0, 0.5), (1, True, "covisit", 12.5, 0.4)],
        [(0, False, "blend", 0.0, 0.7)]]
    report = longterm.off_policy(got * 10, gamma=0.9, seed=0, passes=2)
    assert report["sessions"] == 20 and report["judged_on"] == 10


def test_a_learned_q_serves_as_an_experiments_session_policy():
    from streamrec.models.experiments import (
        Experiment,
        ExperimentError,
        choose_variant,
        variant_propensity,
    )
    from streamrec.models.longterm import serving_state
    from streamrec.models.profile import Profile

    q = SessionQ(["blend", "covisit"], [], gamma=0.9, epsilon=0.0, shrink=0, seed=1)
    bait_q = SessionQ(["bait", "hook"], [], gamma=0.9, epsilon=0.2, shrink=0, seed=1)
    bait_or_hook(bait_q, 200)
    q._q, q._n = bait_q._q, bait_q._n        # the same values under the experiment's names
    d = q.policy().to_dict()
    exp = Experiment.from_dict({"name": "lt", "variants": ["blend", "covisit"],
                                "allocation": "session", "session_policy": d})
    rng = np.random.default_rng(0)
    p = Profile()
    p.observe("view", None, None, ts=0.0)
    s0 = serving_state(p)
    assert s0 == SessionState(0, None, False)
    assert {choose_variant("u", exp, {}, rng, s0) for _ in range(20)} == {"covisit"}
    assert variant_propensity(exp, {}, "covisit", rng, session=s0) == 1.0
    p.observe("click", None, None, ts=5.0)
    assert serving_state(p) == SessionState(1, None, True)
    uniform = Experiment.from_dict({"name": "u", "variants": ["blend", "covisit"],
                                    "allocation": "session"})
    assert variant_propensity(uniform, {}, "blend", rng, session=s0) == 0.5
    for bad, says in ((dict(d, actions=["covisit", "blend"]), "must be the variants"),
                      (dict(d, epsilon=2), "epsilon"), (dict(d, pool=[1.0]), "one finite"),
                      ([1], "must be an object")):
        with pytest.raises(ExperimentError, match=says):
            Experiment.from_dict({"name": "x", "variants": ["blend", "covisit"],
                                  "allocation": "session", "session_policy": bad})
    with pytest.raises(ExperimentError, match="for allocation 'session'"):
        Experiment.from_dict({"name": "x", "variants": ["blend", "covisit"],
                              "session_policy": d})
