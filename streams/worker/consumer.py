"""The event topics' consumer: aiokafka ``getmany`` batches inside the Faust worker.

The worker's Faust app owns the process, the catalog agent and the producer; the event
topics (``events``, ``events.view/click/purchase``) are read by this plain aiokafka
consumer in its own consumer group, ``{app_id}.events``. Faust's per-event stream
machinery (a consumer thread, a conductor, a channel and an ack per event) was the
worker's bottleneck on the 2-core reference machine, measured in one ``streamrec bench``
run each (200 movielens users, 49,016 events, Tansu):

=====================================  ===============  =========================
consumer, doing nothing with events    events/s         p99 ms at 2,000 events/s
=====================================  ===============  =========================
no-op Faust agent (``take_events``)    3,700            36-45
no-op aiokafka consumer (``getmany``)  212,831          15
=====================================  ===============  =========================

Delivery is at-least-once and effects exactly-once: a batch's effects are written to
Redis with its partitions' applied-offset watermarks in one atomic script before its
offsets are committed (at most every ``COMMIT_EVERY_S``, and on every rebalance and
stop), so a crash replays at most the uncommitted events, and the watermarks skip what
was applied. On a rebalance the processed offsets are committed and the user cache is
dropped (a partition taken over is read from Redis again).

Outages: a batch that fails on Redis is retried whole, with backoff, for up to
``STREAMREC_OUTAGE_WAIT_S`` while nothing more is fetched; offset commits failing for that
long (a broker that lost its topics) end the worker with an error, for its supervisor to
restart it. A heartbeat (``workers`` in Redis) says the worker is alive, even when idle.

Batches do not wait to fill: ``getmany`` returns
what the fetcher holds (up to ``batch_size``), so a batch is what arrived while the last
one was processed: small when idle (latency), large when behind (throughput).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from streamrec.state.batch import watermark_field
from streamrec.state.users import RedisUsers
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.outage import OutageError, wait_out
from streamrec.streams.records import EVENT_TOPICS
from streamrec.streams.settings import Settings
from streamrec.streams.worker.processor import Message, Processor

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 1.0


def group_id(settings: Settings) -> str:
    """The consumer group of the event topics (the Faust app's own group is ``app_id``:
    a different protocol, so the two cannot share a group)."""
    return f"{settings.kafka.app_id}.events"


def make_consumer(settings: Settings, group: str) -> AIOKafkaConsumer:
    """The event topics' consumer as the worker configures it (manual commits; the
    benchmark's no-op aiokafka consumer uses the same)."""
    s = settings
    return AIOKafkaConsumer(
        bootstrap_servers=s.kafka.broker, group_id=group, client_id=f"{s.kafka.app_id}-events",
        **client_kwargs(s),
        enable_auto_commit=False, auto_offset_reset="earliest",
        fetch_max_wait_ms=s.kafka.fetch_max_wait_ms,
        session_timeout_ms=int(s.kafka.session_timeout_s * 1000),
        heartbeat_interval_ms=int(min(1.0, s.kafka.session_timeout_s / 3) * 1000),
        rebalance_timeout_ms=3000)


def to_messages(records: Sequence[ConsumerRecord]) -> list[Message]:
    """aiokafka records -> the processor's messages (timestamps in seconds)."""
    return [Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp / 1000.0)
            for r in records]


class EventConsumer:
    """Reads the event topics in batches and hands each to the processor.

    ``run()`` until ``stop()``; the caller owns the processor and the user states."""

    def __init__(self, settings: Settings, processor: Processor,
                 users: RedisUsers | None = None) -> None:
        self.settings = settings
        self.processor = processor
        self.users = users
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()        # a batch and a rebalance never overlap
        self._done: dict[TopicPartition, int] = {}     # next offset to commit
        self._committed: dict[TopicPartition, int] = {}
        self._last_commit = time.monotonic()
        self._commit_failing_since: float | None = None
        self._last_beat = float("-inf")
        self.last_error = ""
        self._rng = random.Random(settings.serving.seed)   # backoff jitter
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        s = self.settings
        consumer = self._consumer = make_consumer(s, group_id(s))
        consumer.subscribe([s.topic(t) for t in EVENT_TOPICS], listener=_Rebalance(self))
        await consumer.start()
        try:
            while not self._stopping.is_set():
                got = await consumer.getmany(timeout_ms=s.kafka.batch_wait_ms,
                                             max_records=s.kafka.batch_size)
                if got:
                    await self._process(consumer, got)
                if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
                    await self._commit()
                if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY_S:
                    await self._heartbeat()
        finally:
            try:
                async with self._lock:
                    await self._commit()
            finally:
                await consumer.stop()
                self._consumer = None

    def stop(self) -> None:
        self._stopping.set()

    async def _process(self, consumer: AIOKafkaConsumer,
                       got: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        records = [r for recs in got.values() for r in recs]
        ends = {}
        lags = self.processor.partition_lag
        for tp, recs in got.items():
            hw = consumer.highwater(tp)
            if hw is not None:
                lags[f"{tp.topic}:{tp.partition}"] = max(0, hw - recs[-1].offset - 1)
                ends[watermark_field(tp.topic, tp.partition)] = hw
        for tp, done in self._done.items():      # assigned partitions with nothing new
            hw = consumer.highwater(tp)
            if tp not in got and hw is not None:
                lags[f"{tp.topic}:{tp.partition}"] = max(0, hw - done)
        msgs = to_messages(records)
        async with self._lock:
            assigned = consumer.assignment()
            self.processor.lag = sum(lags.values())
            self.processor.highwater = ends
            await wait_out(lambda: self.processor.process_events(msgs),
                           limit_s=self.settings.redis.outage_wait_s, what="Redis", rng=self._rng)
            for tp, recs in got.items():
                if tp in assigned:
                    self._done[tp] = recs[-1].offset + 1

    async def _commit(self) -> None:
        self._last_commit = time.monotonic()
        todo = {tp: off for tp, off in self._done.items() if self._committed.get(tp) != off}
        if not todo or self._consumer is None:
            return
        try:
            await self._consumer.commit(todo)
            self._committed.update(todo)
            self._commit_failing_since = None
        except Exception as exc:  # noqa: BLE001 - e.g. a rebalance in progress: retried
            now = time.monotonic()
            since = self._commit_failing_since = self._commit_failing_since or now
            self.last_error = f"offset commit failed: {exc!r}"
            if now - since >= self.settings.redis.outage_wait_s:
                raise OutageError(
                    f"Kafka offset commits failing for {now - since:.0f} s (last: {exc!r}); "
                    "exiting so that a supervisor restarts the worker "
                    "(STREAMREC_OUTAGE_WAIT_S)") from exc
            log.warning("offset commit failed (%r); retried, and the events are skipped by "
                        "their watermarks if they are delivered again", exc)

    async def _heartbeat(self) -> None:
        """The worker's liveness in Redis (``workers``), also while idle."""
        self._last_beat = time.monotonic()
        p = self.processor
        info = {"events_per_s": round(p.rate, 1), "lag": p.lag,
                "partitions": dict(p.partition_lag), "ts": time.time(),
                "last_error": self.last_error or p.last_error,
                "commit_failing_s": (round(time.monotonic() - self._commit_failing_since, 1)
                                     if self._commit_failing_since else 0)}
        try:
            await p.store.heartbeat(p.worker_id, info)
        except Exception as exc:  # noqa: BLE001 - a missed beat is not fatal
            log.warning("heartbeat not written: %r", exc)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            await self._commit()
            for tp in revoked:
                self.processor.partition_lag.pop(f"{tp.topic}:{tp.partition}", None)
                self._done.pop(tp, None)
                self._committed.pop(tp, None)
            if self.users is not None:
                self.users.clear()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
