"""The applied-offset watermarks over a real Redis: a redelivered batch applies nothing,
and a partition whose log now ends before its watermark (the topic was deleted and made
again) has its events applied as new."""

from __future__ import annotations

import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor

pytestmark = pytest.mark.integration


def views(s, offsets, tag):
    return [Message(s.topic("events"), 0, off, b"u", orjson.dumps(
        {"event_id": f"{tag}{off}", "type": "view", "user_id": "u", "item_id": str(off % 5),
         "ts": 1.7e9 + off}), time.time()) for off in offsets]


async def _sink(*a):
    pass


async def test_redelivery_is_skipped_and_a_recreated_topic_is_applied(redis_settings):
    s = redis_settings
    field = f"{s.topic('events')}:0"
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(str(i), stock=3) for i in range(5)])
        proc = Processor(s, store, MemoryUsers(), _sink)
        assert await proc.process_events(views(s, range(10), "a")) == 10
        assert await proc.process_events(views(s, range(4, 10), "a")) == 0
        assert proc.skipped == 6
        proc.highwater = {field: 4}          # the log ends at 4 now: made again
        assert await proc.process_events(views(s, range(4), "b")) == 4
        m, _, _ = await store.read_metrics()
        assert m["events_total"] == 14
        assert (await store.watermarks([field])) == ({field: 4}, {field: 4})
