"""A no-op consumer of the event topics on plain aiokafka, for the pipeline benchmark.

The same job as ``bench/noop_app.py`` (count events, one Redis INCRBY per batch; with
``STREAMREC_NOOP_LISTS=1`` a stand-in ``rec:{user}`` holding ``event_ts`` per user per
batch) without Faust: one ``AIOKafkaConsumer`` in a consumer group, ``getmany`` batches
(at most ``STREAMREC_BATCH_WAIT_MS`` of waiting), offsets committed after each batch. It
shows what Faust's stream machinery costs on this machine: the gap between this floor and
the no-op Faust agent's is the part of the event-to-Redis latency no worker logic adds.
Run: ``python -m streamrec.bench.raw_noop`` with STREAMREC_* env set.
"""

from __future__ import annotations

import asyncio
import os
import signal

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from streamrec.streams.records import EVENT_TOPICS
from streamrec.streams.settings import Settings


async def run(settings: Settings, write_lists: bool, stop: asyncio.Event) -> None:
    r = aioredis.Redis.from_url(settings.redis_url)
    consumer = AIOKafkaConsumer(
        *(settings.topic(t) for t in EVENT_TOPICS), bootstrap_servers=settings.broker,
        group_id=f"{settings.app_id}-rawnoop", auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=1000, rebalance_timeout_ms=3000)
    count_key = settings.redis_prefix + "noop:count"
    await consumer.start()
    try:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=settings.batch_wait_ms,
                                         max_records=settings.batch_size)
            records = [m for batch in got.values() for m in batch]
            if not records:
                continue
            async with r.pipeline(transaction=False) as pipe:
                if write_lists:
                    newest: dict[bytes, float] = {}
                    for m in records:
                        key = m.key or b""
                        newest[key] = max(newest.get(key, 0.0), m.timestamp / 1000.0)
                    for user, ts in newest.items():
                        pipe.set(f"{settings.redis_prefix}rec:{user.decode()}",
                                 orjson.dumps({"event_ts": ts}))
                pipe.incrby(count_key, len(records))
                await pipe.execute()
            await consumer.commit()
    finally:
        await consumer.stop()
        await r.aclose()


def main() -> None:
    settings = Settings.from_env()
    stop = asyncio.Event()

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, os.environ.get("STREAMREC_NOOP_LISTS") == "1", stop)
    asyncio.run(go())


if __name__ == "__main__":
    main()
