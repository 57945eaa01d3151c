"""A no-op consumer of the event topics on plain aiokafka, for the pipeline benchmark.

The same job as ``bench/noop_app.py`` (count events, one Redis INCRBY per batch; with
``STREAMREC_NOOP_LISTS=1`` a stand-in ``rec:{user}`` holding ``event_ts`` per user per
batch) without Faust: the worker's aiokafka consumer (``streams/worker/consumer.py``) in a group
of its own, ``getmany`` batches, offsets committed after each batch. It
shows what Faust's stream machinery costs on this machine: the gap between this floor and
the no-op Faust agent's is the part of the event-to-Redis latency no worker logic adds.
Run: ``python -m streamrec.bench.raw_noop`` with STREAMREC_* env set.
"""

from __future__ import annotations

import asyncio
import os
import signal

import redis.asyncio as aioredis

from streamrec.bench.common import noop_batch
from streamrec.streams.records import EVENT_TOPICS
from streamrec.streams.settings import Settings
from streamrec.streams.worker.consumer import make_consumer


async def run(settings: Settings, write_lists: bool, stop: asyncio.Event) -> None:
    r = aioredis.Redis.from_url(settings.redis.redis_url)
    consumer = make_consumer(settings, f"{settings.kafka.app_id}-rawnoop")   # the worker's config
    consumer.subscribe([settings.topic(t) for t in EVENT_TOPICS])
    await consumer.start()
    try:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=settings.kafka.batch_wait_ms,
                                         max_records=settings.kafka.batch_size)
            records = [m for batch in got.values() for m in batch]
            if not records:
                continue
            await noop_batch(r, settings.redis.redis_prefix, len(records),
                             [(m.key, m.timestamp / 1000.0) for m in records]
                             if write_lists else None)
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
