"""Real-time A/B experiments over ranking variants (pure logic, no I/O).

An experiment splits traffic between variants either by a fixed split (classic A/B:
sticky per user by hashing) or by a Thompson-sampling bandit over the variants' click
statistics (it reallocates traffic as rewards arrive). Each served list carries the
experiment, the variant and an impression id; clicks and purchases that carry that id
within the attribution window are the reward.

>>> exp = Experiment.from_dict({"name": "rank", "variants": ["covisit", "trending"],
...                             "weights": [0.5, 0.5]})
>>> assign_sticky("user-1", exp) == assign_sticky("user-1", exp)
True
>>> stats = {"covisit": VariantStats(impressions=1000, successes=120),
...          "trending": VariantStats(impressions=1000, successes=60)}
>>> r = report(exp, stats, seed=0)
>>> r["covisit"]["ctr"], r["covisit"]["p_best"] > 0.99
(0.12, True)
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .longterm import SessionPolicy, SessionState

RANKING_VARIANTS = ("blend", "covisit", "trending")
ALLOCATIONS = ("fixed", "bandit", "session")
STATUSES = ("running", "paused", "stopped")


class ExperimentError(ValueError):
    """A bad experiment definition or request; the message says what to fix."""


@dataclass
class Experiment:
    name: str
    variants: list[str]
    allocation: str = "fixed"
    weights: list[float] | None = None
    status: str = "running"
    attribution_window_s: float = 3600.0
    reward_click: float = 1.0
    reward_purchase: str = "value"   # "value" (price * quantity) or "1"
    created_at: float = field(default_factory=time.time)
    session_policy: dict[str, Any] | None = None   # allocation "session": models/longterm.py

    @classmethod
    def from_dict(cls, d: dict[str, Any], available: tuple[str, ...] = RANKING_VARIANTS
                  ) -> Experiment:
        if not isinstance(d, dict):
            raise ExperimentError("body must be a JSON object")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ExperimentError(f"unknown fields: {', '.join(sorted(unknown))}")
        name = d.get("name")
        if not isinstance(name, str) or not name or len(name) > 64 or not all(
                c.isalnum() or c in "-_." for c in name):
            raise ExperimentError("name must be 1..64 characters of letters, digits, - _ .")
        variants = d.get("variants")
        if not isinstance(variants, list) or not variants:
            raise ExperimentError("variants must be a non-empty list")
        if len(set(variants)) != len(variants):
            raise ExperimentError("variants must be distinct")
        bad = [v for v in variants if v not in available]
        if bad:
            raise ExperimentError(f"unknown variants {bad}; available: {', '.join(available)}")
        exp = cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
        exp.validate()
        return exp

    def validate(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise ExperimentError(f"allocation must be one of {', '.join(ALLOCATIONS)}")
        if self.status not in STATUSES:
            raise ExperimentError(f"status must be one of {', '.join(STATUSES)}")
        if self.weights is not None:
            if (not isinstance(self.weights, list) or len(self.weights) != len(self.variants)
                    or not all(isinstance(w, int | float) and w >= 0 for w in self.weights)):
                raise ExperimentError("weights must be one non-negative number per variant")
            if not math.isclose(sum(self.weights), 1.0, abs_tol=1e-6):
                raise ExperimentError(f"weights must sum to 1, got {sum(self.weights):g}")
        if not (isinstance(self.attribution_window_s, int | float)
                and 1 <= self.attribution_window_s <= 30 * 86400):
            raise ExperimentError("attribution_window_s must be 1..2592000")
        if self.session_policy is not None:
            if self.allocation != "session":
                raise ExperimentError("session_policy is for allocation 'session'")
            try:
                policy = SessionPolicy.from_dict(self.session_policy)
            except ValueError as e:
                raise ExperimentError(str(e)) from None
            if policy.actions != self.variants:
                raise ExperimentError("session_policy.actions must be the variants, in order")
        if self.reward_purchase not in ("value", "1"):
            raise ExperimentError("reward_purchase must be 'value' or '1'")
        if (isinstance(self.reward_click, bool) or not isinstance(self.reward_click, int | float)
                or not math.isfinite(self.reward_click) or not 0 <= self.reward_click <= 1e6):
            raise ExperimentError("reward_click must be a number 0..1000000, got "
                                  f"{self.reward_click!r}")
        if not isinstance(self.created_at, int | float) or not math.isfinite(self.created_at):
            raise ExperimentError("created_at must be a number (Unix seconds)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @functools.cached_property
    def policy(self) -> SessionPolicy:
        """The session allocation's policy (uniform until one is set), parsed once per
        experiment read rather than for every list."""
        if self.session_policy is None:
            return SessionPolicy(self.variants, [], 1.0, {}, [0.0] * len(self.variants))
        return SessionPolicy.from_dict(self.session_policy)

    @property
    def split(self) -> list[float]:
        return self.weights or [1.0 / len(self.variants)] * len(self.variants)


@dataclass
class VariantStats:
    impressions: int = 0
    successes: int = 0     # impressions with at least one click or purchase
    clicks: int = 0
    purchases: int = 0
    reward: float = 0.0    # configured reward sum (click value + purchase value)


def _unit_hash(*parts: str) -> float:
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def assign_sticky(user_id: str, exp: Experiment) -> str:
    """The user's variant under the fixed split: stable for a user and experiment."""
    u, acc = _unit_hash(exp.name, user_id), 0.0
    for v, w in zip(exp.variants, exp.split, strict=True):
        acc += w
        if u < acc:
            return v
    return exp.variants[-1]


def choose_variant(user_id: str, exp: Experiment, stats: dict[str, VariantStats],
                   rng: np.random.Generator, session: SessionState | None = None) -> str:
    """Fixed split: sticky hash. Bandit: Thompson sampling on each variant's success rate.
    Session: the experiment's session policy (long-term reward, ``models/longterm.py``)
    in the user's ``session`` state. A paused or stopped experiment serves its first
    variant (the control)."""
    if exp.status != "running":
        return exp.variants[0]
    if exp.allocation == "fixed":
        return assign_sticky(user_id, exp)
    if exp.allocation == "session":
        p = exp.policy.probs(session or SessionState(0, None, False))
        return exp.variants[int(rng.choice(len(p), p=p))]
    a = np.array([1.0 + stats.get(v, VariantStats()).successes for v in exp.variants])
    n = np.array([stats.get(v, VariantStats()).impressions for v in exp.variants], float)
    return exp.variants[int(np.argmax(rng.beta(a, 1.0 + np.maximum(n - a + 1.0, 0.0))))]


def variant_propensity(exp: Experiment, stats: dict[str, VariantStats], variant: str,
                       rng: np.random.Generator, draws: int = 200,
                       session: SessionState | None = None) -> float:
    """P(``choose_variant`` picks ``variant``), for the impressions log: the split's
    share under a fixed allocation (users are hashed uniformly), the session policy's
    probability in ``session``, else ``draws`` seeded Thompson draws with the one that
    happened counted too (so never 0)."""
    if exp.status != "running":
        return 1.0
    if exp.allocation == "fixed":
        return float(exp.split[exp.variants.index(variant)])
    if exp.allocation == "session":
        p = exp.policy.probs(session or SessionState(0, None, False))
        return float(p[exp.variants.index(variant)])
    a = np.array([1.0 + stats.get(v, VariantStats()).successes for v in exp.variants])
    n = np.array([stats.get(v, VariantStats()).impressions for v in exp.variants], float)
    won = rng.beta(a, 1.0 + np.maximum(n - a + 1.0, 0.0), size=(draws, a.size)).argmax(1)
    return float(((won == exp.variants.index(variant)).sum() + 1) / (draws + 1))


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion.

    >>> [round(x, 4) for x in wilson(10, 100)]
    [0.0552, 0.1744]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def report(exp: Experiment, stats: dict[str, VariantStats], seed: int = 0,
           draws: int = 4000) -> dict[str, dict[str, Any]]:
    """Per variant: counts, CTR with 95% interval, P(best) and a regret estimate.

    P(best) is the share of posterior draws (Beta(1 + successes, 1 + failures)) in which
    the variant has the highest rate; regret is sum over impressions of (best posterior
    mean - this variant's posterior mean), in expected successes lost.
    """
    rng = np.random.default_rng(seed)
    vs = [stats.get(v, VariantStats()) for v in exp.variants]
    a = np.array([1.0 + s.successes for s in vs])
    b = np.array([1.0 + max(s.impressions - s.successes, 0) for s in vs])
    samples = rng.beta(a[:, None], b[:, None], size=(len(vs), draws))
    p_best = np.bincount(samples.argmax(axis=0), minlength=len(vs)) / draws
    means = a / (a + b)
    out = {}
    for i, (v, s) in enumerate(zip(exp.variants, vs, strict=True)):
        lo, hi = wilson(s.successes, s.impressions)
        out[v] = {**asdict(s), "ctr": round(s.successes / s.impressions, 6) if s.impressions
                  else 0.0, "ctr_95": [round(lo, 6), round(hi, 6)],
                  "p_best": round(float(p_best[i]), 4),
                  "regret": round(float((means.max() - means[i]) * s.impressions), 3)}
    return out
