"""Off-policy evaluation of ranked lists (slates) of ``L`` items (pure, no I/O).

A slate log holds, per shown list (``slate_id``, the impression id), each position's
item, its reward (a click) and the logging policy's marginal probability of that item
at that position, ``p_ij = pi_0(a_ij at j | x_i)``. The target's marginals
``pi(a at j | x)`` come from its ``slate_probs``. With ``w_ij = pi(a_ij at j) / p_ij``:

* **independent** (obp.ope ``SlateIndependentIPS``, Li et al., 2018): each position's
  reward depends only on its own item.  V_j = 1/n sum_i w_ij r_ij;  V = sum_j V_j.
* **cascade** (obp.ope ``SlateRewardInteractionIPS``, McInerney et al., 2020): a
  position's reward depends on the items above it.  W_ij = prod_{m <= j} w_im,
  V_j = 1/n sum_i W_ij r_ij;  V = sum_j V_j. The prefix's probability is taken as the
  product of its positions' marginals: exact when both policies fill positions
  independently, an approximation otherwise.
* **pseudo-inverse** (Swaminathan et al., 2017, "Off-policy evaluation for slate
  recommendation"): the list's reward ``R_i = sum_j r_ij`` is additive over positions;
  for a logging policy that fills positions independently its weight is
  ``sum_j w_ij - L + 1``:  V = 1/n sum_i (sum_j w_ij - L + 1) R_i.

Lists may differ in length: a shorter list is padded with positions of weight 1 and
reward 0, which leave every estimator unchanged. Intervals are seeded percentile
bootstraps over lists.

>>> rounds = [Round(None, a, r, 0.5, None, j, s) for s, a, j, r in
...           [("s1", "x", 0, 1.0), ("s1", "y", 1, 0.0), ("s2", "y", 0, 0.0), ("s2", "x", 1, 1.0)]]
>>> est = evaluate_slates(rounds, FixedSlate(["x", "y"]), n_boot=10)
>>> est["independent"].value, est["pseudo-inverse"].value
(1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bandits.base import Policy
from .ope import Estimate, Round, bootstrap, check, logged_arms


class FixedSlate:
    """Always show ``items`` in this order (a deterministic target list)."""

    def __init__(self, items: Sequence[Hashable]) -> None:
        self.items = list(items)

    def slate_probs(self, k: int, arms: Sequence[Hashable], context: Any = None,
                    **_: Any) -> np.ndarray:
        col = {a: c for c, a in enumerate(arms)}
        out = np.zeros((k, len(arms)))
        for j, a in enumerate(self.items[:k]):
            out[j, col[a]] = 1.0
        return out


@dataclass(frozen=True)
class SlateFeedback:
    """Lists as arrays: ``item[i, j]`` (arm index), ``reward[i, j]``, ``pscore[i, j]``,
    and the target's marginals ``pi[i, j, a]`` (one shared ``[0]`` when they do not
    depend on the list)."""

    item: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    pi: np.ndarray
    real: np.ndarray        # False: a padded position of a shorter list

    def take(self, idx: np.ndarray) -> SlateFeedback:
        pi = self.pi if self.pi.shape[0] == 1 else self.pi[idx]
        return SlateFeedback(self.item[idx], self.reward[idx], self.pscore[idx], pi,
                             self.real[idx])

    def weights(self) -> np.ndarray:
        n, length = self.item.shape
        rows = np.zeros(n, dtype=int) if self.pi.shape[0] == 1 else np.arange(n)
        pos = np.arange(length)
        target = self.pi[rows[:, None], pos[None, :], self.item]
        return np.where(self.real, target / self.pscore, 1.0)


def is_slate_log(log: Sequence[Round]) -> bool:
    """Whether the rounds carry list positions (then they are evaluated as lists)."""
    return any(r.slate_id is not None and r.position is not None for r in log)


def _lists(log: Sequence[Round]) -> list[list[Round]]:
    groups: dict[str, list[Round]] = {}
    for r in log:
        if r.slate_id is None or r.position is None:
            raise ValueError("a slate log needs slate_id and position on every round")
        groups.setdefault(r.slate_id, []).append(r)
    out = []
    for sid, rounds in groups.items():
        rounds.sort(key=lambda r: r.position)
        if [r.position for r in rounds] != list(range(len(rounds))):
            raise ValueError(f"list {sid!r}: positions must be 0..L-1 once each, got "
                             f"{[r.position for r in rounds]}")
        out.append(rounds)
    return out


def slate_feedback(log: Sequence[Round], target: Any, arms: Sequence[Hashable], *,
                   draws: int = 1000, seed: int = 0) -> SlateFeedback:
    lists = _lists(log)
    col = {a: c for c, a in enumerate(arms)}
    length = max(len(rounds) for rounds in lists)
    cache: dict[Any, np.ndarray] = {}

    def marginals(first: Round) -> np.ndarray:
        key = (first.actions, None if first.context is None
               else np.asarray(first.context).tobytes())
        if key not in cache:
            offer = list(first.actions) if first.actions else list(arms)
            p = target.slate_probs(length, offer, first.context, draws=draws, seed=seed)
            full = np.zeros((length, len(arms)))
            full[: p.shape[0], [col[a] for a in offer]] = p
            cache[key] = full
        return cache[key]

    pis = [marginals(rounds[0]) for rounds in lists]
    shared = all(p is pis[0] for p in pis)

    def grid(value: Any, pad: float) -> np.ndarray:
        return np.array([[value(r) for r in rounds] + [pad] * (length - len(rounds))
                         for rounds in lists], dtype=float)
    return SlateFeedback(grid(lambda r: col[r.action], 0).astype(int),
                         grid(lambda r: r.reward, 0.0), grid(lambda r: r.propensity, 1.0),
                         pis[0][None] if shared else np.stack(pis),
                         grid(lambda r: 1.0, 0.0) > 0)


def slate_point(fb: SlateFeedback, clip: float | None = None) -> dict[str, float]:
    """The estimators of this module's docstring, per position (``@j``, 1 = top) and
    over the list."""
    w = fb.weights()
    if clip is not None:
        w = np.minimum(w, clip)
    length = w.shape[1]
    indep = (w * fb.reward).mean(axis=0)
    casc = (np.cumprod(w, axis=1) * fb.reward).mean(axis=0)
    out = {"logged": float(fb.reward.sum(axis=1).mean()),    # the logging policy's own
           "independent": float(indep.sum()), "cascade": float(casc.sum()),
           "pseudo-inverse": float(((w.sum(axis=1) - length + 1)
                                    * fb.reward.sum(axis=1)).mean())}
    for j in range(length):
        out[f"independent@{j + 1}"] = float(indep[j])
        out[f"cascade@{j + 1}"] = float(casc[j])
    return out


def evaluate_slates(log: Sequence[Round], target: Policy | Any, *, seed: int = 0,
                    n_boot: int = 1000, arms: Sequence[Hashable] | None = None,
                    level: float = 0.95, clip: float | None = None,
                    draws: int = 1000) -> dict[str, Estimate]:
    """Every slate estimator's value and seeded bootstrap interval for ``target``."""
    check(log)
    all_arms = list(arms) if arms is not None else logged_arms(log)
    if isinstance(target, Policy):
        target.add_arms(all_arms)
    fb = slate_feedback(log, target, all_arms, draws=draws, seed=seed)
    values = slate_point(fb, clip)
    n = fb.item.shape[0]
    ci = bootstrap(lambda idx: slate_point(fb.take(idx), clip), n, n_boot=n_boot,
                   seed=seed, level=level)
    return {k: Estimate(v, float(ci[k][0]), float(ci[k][1]), n) for k, v in values.items()}
