"""The issue's rare-reward check: a 10,000-round log of a Bernoulli Thompson sampling
policy over 80 arms with a click-through rate near 0.4%, evaluated for the uniform
policy. Prints the estimators, the hand formula of IPW and SNIPW, and the truth.

Run: ``python -m streamrec.bench.ope_rare [ROUNDS] [DRAWS]`` (seeded; the logging
propensity of each round is P(its arm has the largest posterior sample), by DRAWS Monte
Carlo draws with the round's own draw counted too).
"""

from __future__ import annotations

import sys

import numpy as np

from streamrec.models.bandits import RandomPolicy, ThompsonSampling
from streamrec.models.ope import Round, evaluate


def thompson_log(n: int, draws: int, seed: int = 0) -> tuple[list[Round], np.ndarray]:
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.0, 0.008, 80)
    policy = ThompsonSampling(seed=seed)
    policy.add_arms(range(80))
    log = []
    for _ in range(n):
        a, b = policy.posterior(np.arange(80))
        samples = rng.beta(a, b, size=(draws + 1, 80))
        best = samples.argmax(axis=1)
        arm = int(best[0])                                  # the draw that is played
        propensity = float((best == arm).sum() / (draws + 1))
        reward = float(rng.random() < p_true[arm])
        policy.update(arm, reward)
        log.append(Round(None, arm, reward, propensity))
    return log, p_true


def main(n: int = 10000, draws: int = 1000) -> None:
    log, p_true = thompson_log(n, draws)
    r = np.array([x.reward for x in log])
    p = np.array([x.propensity for x in log])
    est = evaluate(log, RandomPolicy(), arms=range(80), seed=0, n_boot=2000)
    print(f"{n} rounds, 80 arms, logged CTR {r.mean():.5f}, {int(r.sum())} clicks; "
          f"truth of the uniform policy (mean arm CTR) {p_true.mean():.5f}")
    print(f"hand: IPW = sum((1/80)/p_i r_i)/n = {((1 / 80) / p * r).sum() / n:.6f}; "
          f"SNIPW = {((1 / 80) / p * r).sum() / ((1 / 80) / p).sum():.6f}")
    for name, e in est.items():
        print(f"{name:<10} {e.value:.6f}  [{e.low:.6f}, {e.high:.6f}]")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
