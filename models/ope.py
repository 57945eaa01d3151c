"""Off-policy evaluation of a target policy on logged bandit feedback (pure, no I/O).

A log is a sequence of rounds ``(context, action, reward, propensity)``: the logging
policy chose ``action`` with probability ``propensity`` = pi_0(a_i|x_i) and observed
``reward``. ``actions`` optionally lists the arms available that round. Every estimator
weighs each round by the TARGET's probability of the logged action, pi(a_i|x_i) (from
the policy's ``action_probs``), so a stochastic target uses all the evidence instead of
the rounds where one sampled choice happened to match.

The definitions are those of Open Bandit Pipeline's ``obp.ope`` (Saito et al., 2021,
"Open Bandit Dataset and Pipeline"), with ``w_i = pi(a_i|x_i) / pi_0(a_i|x_i)``
(optionally clipped at ``clip``), ``q(x, a)`` a reward model and
``q(x, pi) = sum_a pi(a|x) q(x, a)``:

* ``ipw``:   V = 1/n sum_i w_i r_i                         (InverseProbabilityWeighting)
* ``snipw``: V = sum_i w_i r_i / sum_i w_i      (SelfNormalizedInverseProbabilityWeighting)
* ``dm``:    V = 1/n sum_i q(x_i, pi)                                  (DirectMethod)
* ``dr``:    V = 1/n sum_i [q(x_i, pi) + w_i (r_i - q(x_i, a_i))]      (DoublyRobust)
* ``sndr``:  V = 1/n sum_i [q(x_i, pi) + w_i (r_i - q(x_i, a_i)) / mean(w)]
  (SelfNormalizedDoublyRobust)
* ``switch-dr``: V = 1/n sum_i [q(x_i, pi) + w_i (r_i - q(x_i, a_i)) 1{w_i <= tau}]
  (SwitchDoublyRobust; tau = ``switch_tau``)
* ``replay`` (Li et al., 2011), for policies that learn: walk the log; where the target's
  pull matches the logged action, count the reward and let the target learn it. Unbiased
  for a uniform logging policy.

The reward model is per arm: ``q(a)`` = the arm's mean logged reward, shrunk toward the
log's mean with the weight of one round (so an arm never logged gets the log's mean).
Intervals are seeded percentile bootstraps over rounds; each resample refits the model.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p_true = [0.2, 0.5, 0.8]
>>> log = []
>>> for _ in range(3000):   # uniform logging over three arms
...     a = int(rng.integers(3))
...     log.append(Round(None, a, float(rng.random() < p_true[a]), 1 / 3))
>>> est = evaluate(log, FixedPolicy(2), seed=0)
>>> round(est["ipw"].value, 2), est["ipw"].low < 0.8 < est["ipw"].high
(0.79, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bandits.base import Policy, pull_marginals

ESTIMATORS = ("ipw", "snipw", "dm", "dr", "sndr", "switch-dr")


@dataclass(frozen=True, slots=True)
class Round:
    """One logged choice. ``position`` (0 = top) and ``slate_id`` (the impression id)
    place it in a list of several items (``models/ope_slate.py``)."""

    context: Any
    action: Hashable
    reward: float
    propensity: float
    actions: tuple | None = None
    position: int | None = None
    slate_id: str | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float
    rounds: int         # rounds it used (replay: those where the target matched the log)


class FixedPolicy:
    """Always choose ``arm`` (a deterministic target policy)."""

    def __init__(self, arm: Hashable) -> None:
        self.arm = arm

    def pull(self, arms: Sequence[Hashable] | None = None, k: int = 1,
             context: Any = None) -> list[Hashable]:
        return [self.arm]

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        pass

    def action_probs(self, arms: Sequence[Hashable], context: Any = None, **_: Any
                     ) -> np.ndarray:
        return np.array([1.0 if a == self.arm else 0.0 for a in arms])


class Allocation:
    """Choose arm ``a`` with probability ``weights[a]`` (normalised over the arms on
    offer): a stochastic target such as a new experiment allocation. Arms without a
    weight get none.

    >>> Allocation({"a": 3, "b": 1}).action_probs(["a", "b", "c"]).tolist()
    [0.75, 0.25, 0.0]
    """

    def __init__(self, weights: dict[Hashable, float], seed: int = 0) -> None:
        if any(w < 0 for w in weights.values()) or not sum(weights.values()) > 0:
            raise ValueError("allocation weights must be >= 0 with a positive sum")
        self.weights = dict(weights)
        self._rng = np.random.default_rng(seed)

    def action_probs(self, arms: Sequence[Hashable], context: Any = None, **_: Any
                     ) -> np.ndarray:
        w = np.array([float(self.weights.get(a, 0.0)) for a in arms])
        if not w.sum() > 0:
            raise ValueError(f"no arm on offer has a weight: {list(arms)[:5]}")
        return w / w.sum()

    def pull(self, arms: Sequence[Hashable] | None = None, k: int = 1,
             context: Any = None) -> list[Hashable]:
        offer = list(self.weights) if arms is None else list(arms)
        p = self.action_probs(offer)
        k = min(k, int((p > 0).sum()))
        return [offer[int(j)] for j in self._rng.choice(len(offer), k, replace=False, p=p)]

    def slate_probs(self, k: int, arms: Sequence[Hashable], context: Any = None, *,
                    draws: int = 1000, seed: int = 0) -> np.ndarray:
        """Position marginals of a list drawn without replacement by weight, by
        ``draws`` seeded draws."""
        return pull_marginals(self, k, arms, list(arms), context, draws=draws, seed=seed)

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        pass


@dataclass(frozen=True)
class Feedback:
    """A log as arrays: the logged arm's index, its reward and propensity, and the
    target's distribution over the arms per round (one shared row when it does not
    depend on the round)."""

    action: np.ndarray      # (n,) int
    reward: np.ndarray      # (n,)
    pscore: np.ndarray      # (n,) pi_0(a_i | x_i)
    pi: np.ndarray          # (n, K) or (1, K): pi(. | x_i)
    n_arms: int

    def take(self, idx: np.ndarray) -> Feedback:
        pi = self.pi if self.pi.shape[0] == 1 else self.pi[idx]
        return Feedback(self.action[idx], self.reward[idx], self.pscore[idx], pi,
                        self.n_arms)


def check(log: Sequence[Round]) -> None:
    if not log:
        raise ValueError("the log is empty")
    for i, r in enumerate(log):
        if not 0.0 < r.propensity <= 1.0:
            raise ValueError(f"round {i}: propensity must be in (0, 1], got {r.propensity}")


def logged_arms(log: Sequence[Round]) -> list[Hashable]:
    """Every arm the log names: chosen, or on offer."""
    arms = {r.action for r in log} | {a for r in log if r.actions for a in r.actions}
    return sorted(arms, key=str)


def feedback(log: Sequence[Round], target: Any, arms: Sequence[Hashable], *,
             draws: int = 10000, seed: int = 0) -> Feedback:
    """The log's arrays and ``target``'s pi(.|x_i) for each round, from its present
    state (rounds with the same context and choice set share one computation)."""
    col = {a: j for j, a in enumerate(arms)}
    cache: dict[Any, np.ndarray] = {}

    def probs(r: Round) -> np.ndarray:
        key = (r.actions, None if r.context is None else np.asarray(r.context).tobytes())
        if key not in cache:
            avail = list(r.actions) if r.actions else list(arms)
            row = np.zeros(len(arms))
            p = target.action_probs(avail, r.context, draws=draws, seed=seed)
            row[[col[a] for a in avail]] = p
            cache[key] = row
        return cache[key]

    rows = [probs(r) for r in log]
    shared = all(row is rows[0] for row in rows)
    return Feedback(np.array([col[r.action] for r in log]),
                    np.array([r.reward for r in log], dtype=float),
                    np.array([r.propensity for r in log], dtype=float),
                    rows[0][None, :] if shared else np.stack(rows), len(arms))


def arm_means(fb: Feedback) -> np.ndarray:
    """q(a): each arm's mean logged reward, shrunk toward the log's mean by one round."""
    n = np.bincount(fb.action, minlength=fb.n_arms).astype(float)
    s = np.bincount(fb.action, weights=fb.reward, minlength=fb.n_arms)
    return (s + fb.reward.mean()) / (n + 1.0)


def point(fb: Feedback, *, clip: float | None = None,
          switch_tau: float = np.inf) -> dict[str, float]:
    """Every estimator of ``ESTIMATORS`` on ``fb`` (the formulas of this module's
    docstring), and ``logged``: the mean logged reward, the logging policy's value."""
    pi_a = (fb.pi[0, fb.action] if fb.pi.shape[0] == 1
            else fb.pi[np.arange(fb.action.size), fb.action])
    w = pi_a / fb.pscore
    if clip is not None:
        w = np.minimum(w, clip)
    q = arm_means(fb)
    q_pi = fb.pi @ q                    # (n,) or (1,)
    resid = w * (fb.reward - q[fb.action])
    sw = w.sum()
    return {"logged": float(fb.reward.mean()),           # the logging policy's own value
            "ipw": float((w * fb.reward).mean()),
            "snipw": float((w * fb.reward).sum() / sw) if sw else float("nan"),
            "dm": float(np.broadcast_to(q_pi, fb.action.shape).mean()),
            "dr": float((q_pi + resid).mean()),
            "sndr": float((q_pi + resid / w.mean()).mean()) if sw else float("nan"),
            "switch-dr": float((q_pi + resid * (w <= switch_tau)).mean())}


def bootstrap(stat: Any, n: int, *, n_boot: int, seed: int, level: float
              ) -> dict[str, tuple[float, float]]:
    """Percentile intervals of ``stat(idx) -> {name: value}`` over ``n_boot`` seeded
    resamples of ``n`` units."""
    rng = np.random.default_rng(seed)
    draws = [stat(rng.integers(0, n, n)) for _ in range(n_boot)]
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    out = {}
    for name in draws[0]:
        col = np.array([d[name] for d in draws])
        col = col[~np.isnan(col)]
        out[name] = tuple(np.quantile(col, q)) if col.size else (float("nan"),) * 2
    return out


def replay(log: Sequence[Round], target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Li et al.'s replay: (matched, reward) per round; ``target`` learns the matches."""
    match = np.zeros(len(log))
    for i, r in enumerate(log):
        choice = target.pull(list(r.actions) if r.actions else None, context=r.context)
        if choice and choice[0] == r.action:
            match[i] = 1.0
            target.update(r.action, r.reward, context=r.context)
    return match, np.array([r.reward for r in log], dtype=float)


def evaluate(log: Sequence[Round], target: Policy | FixedPolicy | Allocation, *, seed: int = 0,
             n_boot: int = 1000, arms: Sequence[Hashable] | None = None,
             level: float = 0.95, clip: float | None = None, switch_tau: float = np.inf,
             draws: int = 10000) -> dict[str, Estimate]:
    """Every estimator's value and seeded bootstrap interval for ``target`` on ``log``,
    from the target's present state; plus ``replay`` when the target is a learning
    policy (a clone learns, so ``target`` is left as it was)."""
    check(log)
    all_arms = list(arms) if arms is not None else logged_arms(log)
    if isinstance(target, Policy):
        target.add_arms(all_arms)
    fb = feedback(log, target, all_arms, draws=draws, seed=seed)
    values = point(fb, clip=clip, switch_tau=switch_tau)
    ci = bootstrap(lambda idx: point(fb.take(idx), clip=clip, switch_tau=switch_tau),
                   len(log), n_boot=n_boot, seed=seed, level=level)
    out = {k: Estimate(v, float(ci[k][0]), float(ci[k][1]), len(log))
           for k, v in values.items()}
    if isinstance(target, Policy):
        learner = target.clone()
        learner.add_arms(all_arms)
        match, r = replay(log, learner)

        def rep(idx: np.ndarray) -> dict[str, float]:
            m = match[idx].sum()
            return {"replay": float((match[idx] * r[idx]).sum() / m) if m else float("nan")}
        ci = bootstrap(rep, len(log), n_boot=n_boot, seed=seed, level=level)["replay"]
        out["replay"] = Estimate(rep(np.arange(len(log)))["replay"], float(ci[0]),
                                 float(ci[1]), int(match.sum()))
    return out


def read_jsonl(lines: Iterable[bytes | str]) -> list[Round]:
    """Rounds from JSON lines ``{"context": [..] | null, "action": a, "reward": r,
    "propensity": p, "actions": [..], "position": j, "slate_id": s}`` (the last three
    optional); errors name the line."""
    import orjson

    out = []
    for n, line in enumerate(lines, 1):
        if not str(line).strip():
            continue
        try:
            d = orjson.loads(line)
            ctx = d.get("context")
            out.append(Round(np.asarray(ctx, dtype=float) if ctx is not None else None,
                             d["action"], float(d["reward"]), float(d["propensity"]),
                             tuple(d["actions"]) if d.get("actions") else None,
                             d.get("position"), d.get("slate_id")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"line {n}: {type(e).__name__}: {e} (expected context, action, "
                             "reward, propensity)") from None
    return out
