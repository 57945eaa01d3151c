"""Two workers in one group over a real broker and Redis: partitions move between them
(a worker joins, then leaves) and every user's state still holds every event, in order."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.state.users import RedisUsers
from streamrec.streams.dev.demo import stop_worker
from streamrec.streams.tools.replay import Producer
from tests.conftest import eventually
from tests.integration.test_worker import ev

pytestmark = pytest.mark.integration

USERS = [f"u{i}" for i in range(16)]          # spread over the 4 partitions
ITEMS = 400                                   # a user never meets an item twice here


async def load_catalog(store: RedisStore, producer: Producer) -> None:
    for i in range(1, ITEMS + 1):
        await producer.send("catalog.updates", str(i), {"item_id": str(i), "stock": 5,
                                                        "category": "c", "price": 1.0})
    await producer.flush()

    async def loaded():
        m, _, _ = await store.read_metrics()
        return m.get("catalog_total", 0) >= ITEMS
    await eventually(loaded, 60)


async def test_user_state_follows_partitions_between_workers(settings, worker_factory):
    s = settings.replace(recent_items=1000, session_timeout_s=6.0)
    sent: dict[str, list[str]] = {u: [] for u in USERS}
    n = 0

    async def send_round(producer: Producer) -> None:
        nonlocal n
        for k, u in enumerate(USERS):
            item = str(1 + (7 * len(sent[u]) + k) % ITEMS)
            n += 1
            sent[u].append(item)
            await producer.send("events.view", u, ev(f"e{n}", u, item, 100.0 + n))
        await producer.flush()

    async with (RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store,
                Producer(s) as producer):
        async def processed(count: int):
            async def check():
                m, _, workers = await store.read_metrics()
                return workers if m.get("events_total", 0) >= count else None
            return check

        worker_factory(s)              # a: the first worker
        await load_catalog(store, producer)
        await send_round(producer)
        await eventually(await processed(n), 60)

        b = worker_factory(s)            # joins: some partitions move from a to b
        for _ in range(150):             # keep events coming until b has processed some
            await send_round(producer)
            await asyncio.sleep(0.1)
            workers = await eventually(await processed(n), 60)
            if len(workers) >= 2:        # each worker writes its entry with every batch
                break
        assert len(workers) == 2, f"the second worker never processed events: {workers}"
        stop_worker(b)                   # leaves: a takes every partition back
        for _ in range(3):
            await send_round(producer)
        await eventually(await processed(n), 60)

        users = RedisUsers(store)
        await users.load(USERS)
        for u in USERS:
            state = users.get(u)
            assert state is not None
            # newest first, every event once: nothing lost or stale across two handovers
            assert state["r"] == sent[u][::-1], u
        raw = await store.client.get(store.key("user:u0"))     # what a third worker reads
        assert orjson.loads(raw)["r"] == sent["u0"][::-1]
