"""Helpers shared by the benchmarks."""

from __future__ import annotations

import asyncio
import time

from streamrec.state.redis_store import RedisStore
from streamrec.streams.replay import Producer


async def warm_up(store: RedisStore, producer: Producer, item_id: str,
                  timeout: float = 120.0) -> None:
    """Send one view of a throw-away user and wait until the worker has served it."""
    await producer.send_and_wait("events.view", "__warmup__", {
        "event_id": "__warmup__", "user_id": "__warmup__", "item_id": item_id, "ts": 0.0})
    deadline = time.monotonic() + timeout
    while not await store.client.exists(store.key("rec:__warmup__")):
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not serve the warm-up event")
        await asyncio.sleep(0.05)
