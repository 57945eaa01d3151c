"""The store contract on Redis (a real redis-server), and the two backends side by side on
one seeded random workload: the same candidates, to the last bit (the fast offline
evaluation relies on it)."""

from __future__ import annotations

import random

import pytest

from streamrec.state.batch import BatchWrite
from streamrec.state.memory_store import MemoryStore
from streamrec.state.protocols import Store
from streamrec.state.redis_store import RedisStore

from .store_contract import StoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix, half_life_s=60.0,
                          covisit_cap=10) as st:
        yield st


class TestRedisStore(StoreContract):
    def test_is_a_store(self, store):
        assert isinstance(store, Store)


async def test_both_backends_give_the_same_rows_on_a_random_workload(store):
    rng = random.Random(7)
    mem = MemoryStore(half_life_s=60.0, covisit_cap=10)
    items = [f"i{n}" for n in range(40)]
    ts = 0.0
    for _ in range(60):
        write = BatchWrite(backward=0.7)
        for _ in range(rng.randint(1, 20)):
            ts += rng.expovariate(1 / 30.0)       # rebases after 60 half-lives too
            item = rng.choice(items)
            write.trending.append((item, ts))
            partners = rng.sample(items, rng.randint(0, 4))
            if partners:
                write.visits.append((item, partners, rng.uniform(0.1, 2.0)))
        await store.commit(write)
        await mem.commit(write)
        # read after every batch, with varying lengths (the memory backend keeps its last
        # top N between reads)
        per_item, n = rng.choice((3, 15, 40)), rng.choice((5, 30, 80))
        want = await mem.fetch_candidates(items, per_item, n)
        got = await store.fetch_candidates(items, per_item, n)
        assert got.covis == want.covis
        assert got.trending == want.trending
