"""A no-op Faust agent on the same event topics, for the pipeline benchmark's baseline.

It consumes raw values in batches exactly like the streamrec worker does and only
counts them (one Redis INCRBY per batch, so the benchmark can see progress). With
``STREAMREC_NOOP_LISTS=1`` (the latency phase) it also writes, per batch and in one
pipeline, a stand-in ``rec:{user}`` holding only ``event_ts`` (the newest event's Kafka
timestamp) for each user in the batch: the floor of event-to-Redis latency that Faust, the
broker and one Redis round trip per batch set, measured the same way as the worker's.
Run: ``python -m streamrec.bench.noop_app worker`` with STREAMREC_* env set.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import faust
import redis.asyncio as aioredis

from streamrec.bench.common import noop_batch
from streamrec.streams.records import EVENT_TOPICS
from streamrec.streams.settings import Settings
from streamrec.streams.worker.kafka_tuning import set_fetch_max_wait

settings = Settings.from_env()
_tmp = tempfile.mkdtemp(prefix="streamrec-noop-")
atexit.register(shutil.rmtree, _tmp, True)
set_fetch_max_wait(settings.kafka.fetch_max_wait_ms)  # same consumer tuning as the worker
app = faust.App(f"{settings.kafka.app_id}-noop", broker=f"kafka://{settings.kafka.broker}",
                store="memory://", web_enabled=False, consumer_auto_offset_reset="earliest",
                datadir=_tmp,
                broker_rebalance_timeout=3.0, broker_session_timeout=6.0,
                broker_heartbeat_interval=1.0, topic_partitions=settings.kafka.partitions)
topic = app.topic(*(settings.topic(t) for t in EVENT_TOPICS), key_type=bytes, value_type=bytes,
                  key_serializer="raw", value_serializer="raw")
WRITE_LISTS = os.environ.get("STREAMREC_NOOP_LISTS") == "1"


@app.agent(topic)
async def noop(stream: faust.StreamT) -> None:
    r = aioredis.Redis.from_url(settings.redis.redis_url)
    try:
        async for batch in stream.take_events(settings.kafka.batch_size,
                                              within=settings.kafka.batch_wait_ms / 1000):
            await noop_batch(r, settings.redis.redis_prefix, len(batch),
                             [(e.message.key, e.message.timestamp) for e in batch]
                             if WRITE_LISTS else None)
    finally:
        await r.aclose()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app.main()
