"""``streamrec longterm``: a policy for the discounted session reward, against the bandit
allocation over the same variants (``models/longterm.py``, ``models/session_sim.py``).

Two evaluations, each with 95% bootstrap intervals over sessions:

- **Simulation** from a real dataset's sessions (movielens-small, or the online-retail
  sample). The sessions are taken in the order they closed: the first 70% are learned
  on, and every learning policy is then scored on the last 30% while it goes on
  learning, as it would when deployed. Reported for each: the mean discounted return
  per session, its interval, and its paired difference with the bandit.
- **Off-policy** on the system's own impression log (``--impressions``, the
  ``impressions`` topic dumped as JSON lines or read as kafka://HOST:PORT/TOPIC). The
  log is cut into sessions per user (a gap of 30 minutes ends one). Q-learning learns
  off-policy from the first half of the sessions. On the second half, its
  epsilon-greedy policy is valued by per-decision importance sampling on the logged
  variant propensities, beside the logging allocation's own mean return. An impression
  records no category, so there the state is the step and whether the last list was
  clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamrec.models import session_sim as sim
from streamrec.models.bandits import ThompsonSampling
from streamrec.models.longterm import SessionQ, SessionState, Step, discounted_return, pdis
from streamrec.models.ope import bootstrap

N_CATEGORIES = 8


def load_events(dataset: str, movielens_dir: Path) -> list[sim.SimEvent]:
    """Events for the simulation, in time order. movielens: rating >= 4 is a click (1),
    5 a purchase at its simulated price, else a view (0); retail: every line a purchase
    at its unit price."""
    from streamrec.streams.tools import dataset as ml
    from streamrec.streams.tools import retail

    if dataset == "movielens":
        cat = {c["item_id"]: c for c in ml.read_catalog(movielens_dir)}
        return [sim.SimEvent(u, i, ts, cat[i]["price"] if r >= 5 else 1.0 if r >= 4 else 0.0,
                             cat[i]["category"]) for u, i, r, ts in ml.read_ratings(movielens_dir)]
    folder = retail.beside(movielens_dir)
    cat = {c["item_id"]: c["category"] for c in retail.read_catalog(folder)}
    return [sim.SimEvent(e["user_id"], e["item_id"], e["ts"], e["price"], cat.get(e["item_id"]))
            for e in retail.read_events(folder)]


def _interval(values: np.ndarray, seed: int) -> dict[str, Any]:
    ci = bootstrap(lambda idx: {"mean": float(values[idx].mean())}, len(values),
                   n_boot=1000, seed=seed, level=0.95)["mean"]
    return {"mean": round(float(values.mean()), 4),
            "ci95": [round(float(ci[0]), 4), round(float(ci[1]), 4)]}


def simulation(events: Sequence[sim.SimEvent], *, gamma: float, leave_after_miss: float,
               seed: int, k: int = 20) -> dict[str, Any]:
    sessions = sim.build_steps(events, k)
    cut = int(0.7 * len(sessions))
    train, test = sessions[:cut], sessions[cut:]
    counts: dict[str | None, int] = {}
    for s in train:
        for st in s:
            counts[st.category] = counts.get(st.category, 0) + 1
    cats = [c for c in sorted(counts, key=lambda c: -counts[c]) if c][:N_CATEGORIES]
    bandit = ThompsonSampling(seed=seed)
    bandit.add_arms(sim.VARIANTS)
    choosers: dict[str, sim.Chooser] = {f"fixed:{v}": sim.Fixed(v) for v in sim.VARIANTS}
    choosers["bandit (Thompson, clicks)"] = sim.BanditChooser(bandit)
    choosers[f"session-q (gamma {gamma})"] = sim.QChooser(
        SessionQ(sim.VARIANTS, cats, gamma=gamma, epsilon=0.02, seed=seed))
    choosers["session-q myopic (gamma 0)"] = sim.QChooser(
        SessionQ(sim.VARIANTS, cats, gamma=0.0, epsilon=0.02, seed=seed))
    values = {}
    for name, ch in choosers.items():
        sim.simulate(train, ch, gamma=gamma, leave_after_miss=leave_after_miss, seed=seed)
        values[name] = sim.simulate(test, ch, gamma=gamma, leave_after_miss=leave_after_miss,
                                    seed=seed + 1)
    base = values["bandit (Thompson, clicks)"]
    report: dict[str, Any] = {"sessions": len(sessions), "train_sessions": len(train),
                              "test_sessions": len(test), "steps": sum(map(len, sessions)),
                              "gamma": gamma, "leave_after_miss": leave_after_miss,
                              "policies": {}}
    for name, v in values.items():
        report["policies"][name] = {**_interval(v, seed),
                                    "minus_bandit": _interval(v - base, seed)}
    q = choosers[f"session-q (gamma {gamma})"]
    report["learned_choices"] = q.q.greedy()  # type: ignore[attr-defined]
    return report


def impression_sessions(records: Sequence[bytes]) -> list[list[Step]]:
    """Logged sessions of experiment lists: (state, variant, reward, propensity) steps,
    reward = the sum of the list's click (1) and purchase (its value) rewards."""
    from streamrec.streams import schemas
    from streamrec.streams.tools.ope_log import join

    shown, rewards = join(records)
    reward = {i: sum(r.value if r.value is not None else 1.0 for r in rs)
              for i, rs in rewards.items()}
    per_user: dict[str, list[schemas.Impression]] = {}
    for imp in shown.values():
        if imp.variant is not None and imp.variant_propensity:
            per_user.setdefault(imp.user_id, []).append(imp)
    out: list[list[Step]] = []
    for imps in per_user.values():
        imps.sort(key=lambda i: i.ts)
        steps: list[Step] = []
        for n, imp in enumerate(imps):
            if n and imp.ts - imps[n - 1].ts > sim.SESSION_GAP_S:
                out.append(steps)
                steps = []
            clicked = bool(steps) and steps[-1].reward > 0
            steps.append(Step(SessionState(len(steps), None, clicked), imp.variant,
                              reward.get(imp.impression_id, 0.0), imp.variant_propensity))
        out.append(steps)
    return [s for s in out if s]


def off_policy(sessions: list[list[Step]], *, gamma: float, seed: int, passes: int = 20,
               clip: float = 100.0) -> dict[str, Any]:
    cut = len(sessions) // 2
    learn, judge = sessions[:cut], sessions[cut:]
    variants = sorted({st.action for s in sessions for st in s}, key=str)
    q = SessionQ(variants, [], gamma=gamma, epsilon=0.1, seed=seed)
    for _ in range(passes):
        for s in learn:
            for t, st in enumerate(s):
                q.update(st.state, st.action, st.reward, s[t + 1].state if t + 1 < len(s)
                         else None)
    logged = np.array([discounted_return([st.reward for st in s], gamma) for s in judge])
    target = pdis(judge, q.action_probs, variants, gamma, clip)
    return {"sessions": len(sessions), "learned_on": len(learn), "judged_on": len(judge),
            "lists": sum(map(len, sessions)), "variants": [str(v) for v in variants],
            "gamma": gamma, "clip": clip,
            "logging policy (bandit allocation), on-policy": _interval(logged, seed),
            "session-q (epsilon 0.1), PDIS": _interval(target, seed),
            "difference, paired": _interval(target - logged, seed),
            "learned_choices": q.greedy(), "session_policy": q.policy().to_dict()}
