"""Redis loses the catalog (a restart without persistence, a flush): the next worker
rebuilds it from the compacted catalog topic, and events for its items are applied, not
sent to the DLQ as unknown items."""

from __future__ import annotations

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import stop_worker
from streamrec.streams.tools.replay import Producer
from tests.faults.conftest import ITEMS, counted, event_log, load_catalog, send_log

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_a_lost_catalog_is_rebuilt_from_its_topic(settings, worker_factory):
    s = settings.replace(river_weight=0.0)
    log, good, bad = event_log(400, seed=5)
    async with (RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store,
                Producer(s) as producer):
        worker = worker_factory(s)
        await load_catalog(store, producer)
        await producer.send("catalog.updates", "3", {"item_id": "3", "stock": 0})
        await producer.send("catalog.updates", "4", {"item_id": "4", "price": 1.25})
        await producer.flush()
        stop_worker(worker)
        lost = [k async for k in store.client.scan_iter(match=s.redis.redis_prefix + "*")]
        await store.client.delete(*lost)                  # everything Redis held is gone
        worker_factory(s)
        await send_log(producer, log)
        m = await counted(store, len(log), timeout=120)
        assert (m["events_total"], m["dlq_total"]) == (good, bad)   # no "unknown item"
        assert await store.all_items(10_000) == set(ITEMS)
        assert await store.out_of_stock() == {"3"}            # the latest change per item
        assert (await store.item("4"))["price"] == 1.25
