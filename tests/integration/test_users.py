"""Per-user state in a real Redis (state/users.py): write-back, handover, cache bounds."""

from __future__ import annotations

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.state.users import RedisUsers

pytestmark = pytest.mark.integration


async def test_a_batch_is_written_once_and_read_by_the_next_owner(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        a, b = RedisUsers(store), RedisUsers(store)          # two workers
        await a.load(["u1", "u2"])
        assert a.get("u1") is None and a.get("u2") is None   # new users
        with pytest.raises(KeyError, match="not loaded"):
            a.get("u3")
        a["u1"] = {"r": ["i2", "i1"]}
        await b.load(["u1"])
        assert b.get("u1") is None                           # not flushed yet
        await a.flush()
        assert b.get("u1") is None                           # b's cache: stale until...
        b.clear()                                            # ...a rebalance drops it
        await b.load(["u1"])
        assert b.get("u1") == {"r": ["i2", "i1"]}
        b["u1"] = {"r": ["i3", "i2", "i1"]}                  # b owns u1 now
        await b.flush()
        a.clear()
        await a.load(["u1"])                                 # u1 comes back to a
        assert a.get("u1") == {"r": ["i3", "i2", "i1"]}


async def test_the_cache_is_bounded_and_keeps_the_batch_and_unflushed_users(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        users = RedisUsers(store, max_cached=2)
        await users.load(["a", "b"])
        users["a"] = {"r": ["1"]}                            # dirty: never evicted
        await users.load(["c"])                              # over the bound
        assert users.get("a") == {"r": ["1"]}
        with pytest.raises(KeyError):
            users.get("b")                                   # the oldest clean one went
        await users.flush()
        await users.load(["a", "d"])                         # a is in this batch: kept
        assert users.get("a") == {"r": ["1"]} and users.get("d") is None
        with pytest.raises(KeyError):
            users.get("c")
        await users.load(["c"])                              # read back from Redis
        assert users.get("c") is None
        assert await store.client.get(store.key("user:a")) is not None
