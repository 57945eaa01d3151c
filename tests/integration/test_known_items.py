"""Catalog membership: a worker reads the catalog's ids once, still accepts items another
worker's catalog partition added later, and rejects items not in the catalog."""

from __future__ import annotations

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration


async def test_items_added_after_the_preload_are_accepted_unknown_ones_rejected(
        redis_settings):
    s = redis_settings
    sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        sent.append((topic, key, value))

    def view(n: int, item: str) -> Message:
        ev = {"event_id": f"e{n}", "user_id": "u", "item_id": item, "ts": float(n)}
        return Message(s.topic("events.view"), 0, next_offset(), b"u", orjson.dumps(ev), float(n))

    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange("a", stock=3), CatalogChange("b", stock=3)])
        assert await store.all_items(limit=2) == {"a", "b"}
        assert await store.all_items(limit=1) == set()        # too big: looked up per item
        proc = Processor(s, store, MemoryUsers(), send)
        assert await proc.process_events([view(1, "a")]) == 1
        await store.apply_catalog([CatalogChange("c", stock=3)])   # after the preload
        assert await proc.process_events([view(2, "c"), view(3, "nope"), view(4, "b")]) == 2
    dlq = [orjson.loads(v) for t, _, v in sent if t == s.topic("events.dlq")]
    assert [d["reason"] for d in dlq] == ["unknown item 'nope' (not in the catalog)"]
