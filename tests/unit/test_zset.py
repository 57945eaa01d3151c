"""The memory store's sorted set keeps its top N up to date between reads; these tests
hold it to a full ranking (Redis's ZREVRANGE order) after every kind of write."""

import numpy as np
import pytest

from streamrec.state.zset import ZSet


def full_top(z: dict[str, float], n: int) -> list[tuple[str, float]]:
    return [(m, x) for x, m in sorted(((x, m) for m, x in z.items()), reverse=True)[:n]]


@pytest.mark.parametrize("seed", range(5))
def test_top_matches_a_full_ranking_under_random_writes(seed):
    rng = np.random.default_rng(seed)
    z, mirror = ZSet(), {}
    members = [f"m{j}" for j in range(60)]
    checked = 0
    for _ in range(3000):
        op = rng.random()
        m = members[int(rng.integers(len(members)))]
        if op < 0.75:
            by = float(rng.choice([0.5, 1.0, rng.random()]))    # ties are common
            z.incr(m, by)
            mirror[m] = mirror.get(m, 0.0) + by
        elif op < 0.8:
            x = float(rng.random() * 5)
            z.put(m, x)
            mirror[m] = x
        elif op < 0.83:
            z.discard(m)
            mirror.pop(m, None)
        elif op < 0.84:
            z.scale(0.5)
            mirror = {k: v * 0.5 for k, v in mirror.items()}
        elif op < 0.85:
            z.trim(30)
            mirror = dict(full_top(mirror, 30))
        else:
            n = int(rng.integers(1, 25))
            assert z.top(n) == full_top(mirror, n)
            checked += 1
        assert dict(z) == mirror
    assert checked > 300


def test_a_raised_member_enters_and_a_lowered_one_leaves_the_kept_top():
    z = ZSet()
    for m, x in [("a", 3.0), ("b", 2.0), ("c", 1.0)]:
        z.incr(m, x)
    assert z.top(2) == [("a", 3.0), ("b", 2.0)]
    z.incr("c", 5.0)                       # from outside the kept top to its head
    assert z.top(2) == [("c", 6.0), ("a", 3.0)]
    z.incr("c", -5.5)                      # a decrease: ranked again from scratch
    assert z.top(3) == [("a", 3.0), ("b", 2.0), ("c", 0.5)]
