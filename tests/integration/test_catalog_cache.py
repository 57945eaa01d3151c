"""The worker caches catalog info (category, price) until the catalog changes: a price
change made by any worker reaches the next batch's lists at once (the processor over a
real redis-server, no broker)."""

from __future__ import annotations

import orjson
import pytest

from streamrec.models.covisit import EPOCH
from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration

CATALOG = [CatalogChange(str(i), stock=5, price=10.0, category=f"c{i % 3}")
           for i in range(8)]


async def _sink(*args: object) -> None:
    pass


def _msgs(s, events):
    return [Message(s.topic("events"), 0, next_offset(), u.encode(),
                    orjson.dumps({"event_id": e, "user_id": u, "item_id": i, "ts": EPOCH + t,
                                  "type": "view"}), 0.0)
            for e, u, i, t in events]


async def test_price_change_reaches_the_next_list(redis_settings):
    s = redis_settings.replace(min_price=5.0, candidate_cache_ms=0)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(CATALOG)
        proc = Processor(s, store, MemoryUsers(), _sink)
        # b's sequence makes 2 and 3 neighbours of 1; a views 0 then 1
        await proc.process_events(_msgs(s, [("b1", "b", "1", 1), ("b2", "b", "2", 2),
                                            ("b3", "b", "3", 3), ("a1", "a", "0", 4),
                                            ("a2", "a", "1", 5)]))
        first = (await store.read_recs(["a"]))["a"]
        assert "2" in first and "3" in first
        version = (await store.fetch_candidates([], 1, 1)).catalog_version
        # another worker's catalog agent prices 2 under the floor; a's next event
        await store.apply_catalog([CatalogChange("2", price=1.0)])
        assert (await store.fetch_candidates([], 1, 1)).catalog_version == version + 1
        await proc.process_events(_msgs(s, [("a3", "a", "4", 6)]))
        after = (await store.read_recs(["a"]))["a"]
        assert "2" not in after and "3" in after
        # and back above the floor: it returns with the next list
        await store.apply_catalog([CatalogChange("2", price=9.0)])
        await proc.process_events(_msgs(s, [("a4", "a", "5", 7)]))
        assert "2" in (await store.read_recs(["a"]))["a"]
