"""Off-policy evaluation of a bandit policy on logged feedback (pure, no I/O).

A log is a sequence of rounds ``(context, action, reward, propensity)``: the logging
policy chose ``action`` with probability ``propensity`` and observed ``reward``
(``context`` may be None). Optionally ``actions`` lists the arms available that round.

Estimators of the target policy's mean reward per round:

* **replay** (Li et al. 2011): walk the log; where the target policy picks the logged
  action, count the reward (and let a learning policy learn from it). Unbiased when the
  logging policy was uniform.
* **IPW**: mean of ``1[pi(x) = a] * r / p``. Unbiased for any logging policy with p > 0.
* **SNIPS**: IPW divided by the mean of ``1[pi(x) = a] / p``; lower variance, slightly
  biased.

Intervals come from a seeded bootstrap over rounds (the target's choices are fixed by
one pass, so the bootstrap measures the sampling noise of the log).

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

from .bandits.base import Policy


@dataclass(frozen=True, slots=True)
class Round:
    context: Any
    action: Hashable
    reward: float
    propensity: float
    actions: tuple | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float
    matched: int        # rounds where the target chose the logged action


class FixedPolicy:
    """Always choose ``arm`` (a deterministic target policy)."""

    def __init__(self, arm: Hashable) -> None:
        self.arm = arm

    def pull(self, arms: Sequence[Hashable] | None = None, k: int = 1,
             context: Any = None) -> list[Hashable]:
        return [self.arm]

    def update(self, arm: Hashable, reward: float, context: Any = None) -> None:
        pass


def _validate(log: Sequence[Round]) -> None:
    if not log:
        raise ValueError("the log is empty")
    for i, r in enumerate(log):
        if not 0.0 < r.propensity <= 1.0:
            raise ValueError(f"round {i}: propensity must be in (0, 1], got {r.propensity}")


def evaluate(log: Sequence[Round], target: Policy | FixedPolicy, *, seed: int = 0,
             n_boot: int = 500, arms: Sequence[Hashable] | None = None,
             level: float = 0.95) -> dict[str, Estimate]:
    """Replay, IPW and SNIPS estimates of ``target`` on ``log`` with bootstrap intervals.

    A learning ``target`` (one of our bandit policies) is updated on the matched rounds,
    as the replay method prescribes; pass an untrained policy.
    """
    _validate(log)
    all_arms = list(arms) if arms is not None else sorted({r.action for r in log}, key=str)
    if isinstance(target, Policy):
        target.add_arms(all_arms)
    match = np.zeros(len(log))
    rewards = np.array([r.reward for r in log], dtype=float)
    props = np.array([r.propensity for r in log], dtype=float)
    for i, r in enumerate(log):
        choice = target.pull(list(r.actions) if r.actions else None, context=r.context)
        if choice and choice[0] == r.action:
            match[i] = 1.0
            target.update(r.action, r.reward, context=r.context)

    def estimates(idx: np.ndarray) -> tuple[float, float, float]:
        m, rw, p = match[idx], rewards[idx], props[idx]
        replay = float((m * rw).sum() / m.sum()) if m.sum() else float("nan")
        ipw = float((m * rw / p).mean())
        norm = (m / p).sum()
        snips = float((m * rw / p).sum() / norm) if norm else float("nan")
        return replay, ipw, snips

    point = estimates(np.arange(len(log)))
    rng = np.random.default_rng(seed)
    boots = np.array([estimates(rng.integers(0, len(log), len(log))) for _ in range(n_boot)])
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out = {}
    for j, name in enumerate(("replay", "ipw", "snips")):
        col = boots[:, j][~np.isnan(boots[:, j])]
        lo, hi = (np.quantile(col, [lo_q, hi_q]) if col.size else (float("nan"),) * 2)
        out[name] = Estimate(point[j], float(lo), float(hi), int(match.sum()))
    return out


def read_jsonl(lines: Iterable[bytes | str]) -> list[Round]:
    """Rounds from JSON lines ``{"context": [..] | null, "action": a, "reward": r,
    "propensity": p, "actions": [..] (optional)}``; errors name the line."""
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
                             tuple(d["actions"]) if d.get("actions") else None))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"line {n}: {type(e).__name__}: {e} (expected context, action, "
                             "reward, propensity)") from None
    return out
