"""Helpers shared by the benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import orjson
import redis.asyncio as aioredis

from streamrec.state.redis_store import RedisStore
from streamrec.streams.tools.replay import Producer


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


async def noop_batch(r: aioredis.Redis, prefix: str, n: int,
                     stand_ins: Iterable[tuple[bytes | None, float]] | None = None) -> None:
    """What a no-op consumer does per batch, in one pipeline: add ``n`` to
    ``{prefix}noop:count`` and, given (key, Kafka timestamp in s) of the batch's events,
    write a stand-in ``rec:{user}`` holding only the user's newest ``event_ts``."""
    if stand_ins is None:
        await r.incrby(prefix + "noop:count", n)
        return
    newest: dict[bytes, float] = {}
    for key, ts in stand_ins:
        k = key or b""
        newest[k] = max(newest.get(k, 0.0), ts)
    async with r.pipeline(transaction=False) as pipe:
        for user, ts in newest.items():
            pipe.set(f"{prefix}rec:{user.decode()}", orjson.dumps({"event_ts": ts}))
        pipe.incrby(prefix + "noop:count", n)
        await pipe.execute()
