"""Bandit benchmark: our vectorised policies beside River's, in one run.

1. pulls+updates per second at 10, 100, 1,000 and 10,000 arms (one pull over all arms,
   then one update, repeated for ~``--seconds`` per cell);
2. cumulative regret over ``--rounds`` rounds of a seeded Bernoulli environment, ours
   beside River's for the same algorithm (mean over ``--repeats`` seeds).

Run: ``python -m streamrec.bench.bandits``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river import bandit as rb
from river import proba

from streamrec.models import bandits as ob

PAIRS = {
    "Thompson": (lambda s: ob.ThompsonSampling(seed=s),
                 lambda s: rb.ThompsonSampling(reward_obj=proba.Beta(), seed=s)),
    "UCB": (lambda s: ob.UCB1(c=1.0, seed=s), lambda s: rb.UCB(delta=1.0, seed=s)),
    "eps-greedy 0.1": (lambda s: ob.EpsilonGreedy(0.1, seed=s),
                       lambda s: rb.EpsilonGreedy(0.1, seed=s)),
}


def speed(make_ours, make_river, n_arms: int, seconds: float) -> tuple[float, float]:
    env = np.random.default_rng(0)
    arms = list(range(n_arms))
    out = []
    for kind, make in (("ours", make_ours), ("river", make_river)):
        p = make(1)
        if kind == "ours":
            p.add_arms(arms)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            arm = p.pull()[0] if kind == "ours" else p.pull(arms)
            p.update(arm, float(env.random() < 0.5))
            n += 1
        out.append(n / (time.perf_counter() - t0))
    return out[0], out[1]


def regret(make, ours: bool, probs: np.ndarray, rounds: int, seed: int) -> float:
    env = np.random.default_rng(1000 + seed)
    p = make(seed)
    arms = list(range(len(probs)))
    if ours:
        p.add_arms(arms)
    best, total = probs.max(), 0.0
    draws = env.random(rounds)
    for t in range(rounds):
        arm = p.pull()[0] if ours else p.pull(arms)
        p.update(arm, float(draws[t] < probs[arm]))
        total += best - probs[arm]
    return total


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arms", type=int, nargs="+", default=[10, 100, 1000, 10000])
    args = ap.parse_args(argv)

    print("pulls+updates per second (one pull over all arms + one update)")
    print(f"| {'policy':<15} | {'arms':>6} | {'ours/s':>9} | {'river/s':>9} | {'speed-up':>8} |")
    print(f"|{'-' * 17}|{'-' * 8}|{'-' * 11}|{'-' * 11}|{'-' * 10}|")
    for name, (mo, mr) in PAIRS.items():
        for n in args.arms:
            o, r = speed(mo, mr, n, args.seconds)
            print(f"| {name:<15} | {n:>6} | {o:>9,.0f} | {r:>9,.0f} | {o / r:>7.1f}x |",
                  flush=True)

    probs = np.array([0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.12, 0.25, 0.33, 0.4])
    print(f"\ncumulative regret, {args.rounds:,} rounds, 10 Bernoulli arms "
          f"(best p=0.5), mean over {args.repeats} seeds (lower is better)")
    print(f"| {'policy':<15} | {'ours':>9} | {'river':>9} |")
    print(f"|{'-' * 17}|{'-' * 11}|{'-' * 11}|")
    for name, (mo, mr) in PAIRS.items():
        o = np.mean([regret(mo, True, probs, args.rounds, s) for s in range(args.repeats)])
        r = np.mean([regret(mr, False, probs, args.rounds, s) for s in range(args.repeats)])
        print(f"| {name:<15} | {o:>9.1f} | {r:>9.1f} |", flush=True)


if __name__ == "__main__":
    main()
