"""An event whose processing raises (a bug, a bad value no rule caught) goes to the DLQ
with the error; the rest of its batch is applied, once, and the DLQ counter counts it."""

from __future__ import annotations

import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_a_message_that_raises_is_quarantined_and_its_batch_applied(redis_settings):
    s = redis_settings
    dead = []

    async def sink(topic, key, value):
        if topic == s.topic("events.dlq"):
            dead.append(orjson.loads(value))

    def buggy(recommend):
        async def rank(states, *a, **kw):
            if "poison" in states:
                raise ZeroDivisionError("a bug met by one user's event")
            return await recommend(states, *a, **kw)
        return rank

    msgs = [Message(s.topic("events"), 0, off, u.encode(), orjson.dumps(
        {"event_id": f"e{off}", "type": "view", "user_id": u, "item_id": str(off % 7),
         "ts": 1.7e9 + off}), time.time())
        for off, u in enumerate(["a", "b", "c", "poison", "d", "e", "f", "g"] * 4)]
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(str(i), stock=3) for i in range(7)])
        proc = Processor(s, store, MemoryUsers(), sink)
        proc.lists.recommend = buggy(proc.lists.recommend)     # the rank phase has a bug
        assert await proc.process_events(msgs) == 28
        assert await proc.process_events(msgs) == 0           # redelivered: nothing again
        m, _, _ = await store.read_metrics()
        assert (m["events_total"], m["dlq_total"]) == (28, 4)
        assert sorted(d["offset"] for d in dead) == [3, 11, 19, 27]
        assert all("ZeroDivisionError: a bug met" in d["reason"] for d in dead)
        assert len(await store.read_recs(["a", "g", "poison"])) == 2
        assert "ZeroDivisionError" in proc.last_error
