"""``streamrec learner``: the single writer of the River models.

One learner process consumes every event topic and ``catalog.updates`` (its own consumer
group) and feeds :class:`~streamrec.models.online_learner.OnlineLearner` event by event.
Every ``snapshot_every`` events or ``snapshot_seconds`` it publishes a snapshot to Redis:
the pickled models together with the offsets they include, signed with HMAC-SHA256
(``state/snapshots.py``; workers unpickle nothing else), in ONE value (so state and
offsets can never disagree), plus a version number. Workers poll the version and score
with the newest snapshot; the model version in each list says which one.

Users forgotten on request are skipped: before each batch the learner checks
``forgotten:v`` in Redis (one GET) and, when it moved, reads ``forgotten``, drops the
newly forgotten users' vectors and learns again from those who consented. Redis is the
authority, not the order in which ``users.forget`` and the event topics are read (a
consent's tombstone may be read after the user's next event). A tombstone on
``users.forget`` makes the learner write a snapshot at the end of that batch, so the
next snapshot holds nothing of the user.

On start the learner restores the latest snapshot and seeks every partition to the
snapshot's offsets, so the events after it are replayed: nothing is lost and nothing is
learned twice (the aiokafka ``local_state_consumer`` pattern, written atomically).
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from typing import Any

import msgspec
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamrec.models.online_learner import OnlineLearner
from streamrec.state import snapshots
from streamrec.streams.exceptions import SettingsError, StreamrecError
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.outage import wait_out
from streamrec.streams.records import EVENT_TOPICS, TOPIC_CATALOG, TOPIC_FORGET
from streamrec.streams.schemas import UserTombstone
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, parse_catalog, parse_interaction

log = logging.getLogger(__name__)
_tombstones = msgspec.json.Decoder(UserTombstone)
SNAPSHOT_KEY = "model:snapshot"
VERSION_KEY = "model:version"


async def load_snapshot(r: aioredis.Redis, name: str, key: str) -> dict[str, Any] | None:
    """The newest snapshot (at Redis key ``name``);
    :class:`~streamrec.state.snapshots.SnapshotRejected` (nothing unpickled) unless it is
    signed with ``key``."""
    raw = await r.get(name)
    try:
        return snapshots.loads(raw, key) if raw else None
    except snapshots.SnapshotRejected as e:
        raise RefusedSnapshot(
            f"{name} in Redis was not unpickled: {e} (tampered with, or "
            "written under another key); delete that key to start the models afresh, "
            "from the start of the topics") from e


class RefusedSnapshot(StreamrecError, snapshots.SnapshotRejected):
    """The learner will not start from a snapshot whose signature does not check."""


def require_key(settings: Settings) -> str:
    if not settings.serving.snapshot_key:
        raise SettingsError(
            "STREAMREC_SNAPSHOT_KEY is not set: the learner signs its model snapshots with it "
            "and workers load only signed ones; set the same secret of 16+ characters on "
            "the learner and every worker (e.g. `openssl rand -hex 32`)")
    return settings.serving.snapshot_key.get_secret_value()


class Learner:
    def __init__(self, settings: Settings, snapshot_every: int = 5000,
                 snapshot_seconds: float = 5.0) -> None:
        self.settings = settings
        self._key = require_key(settings)
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = snapshot_seconds
        self.model = OnlineLearner(seed=settings.serving.seed)
        self.offsets: dict[tuple[str, int], int] = {}   # next offset to read
        self.version = 0
        self._stop = asyncio.Event()
        self._keys = settings.keyspace()
        self._r = self._keys.client(settings.redis.redis_url)   # bytes, not decoded
        self._rng = random.Random(settings.serving.seed)
        self._last_beat = float("-inf")
        self.lag = 0
        self.partition_lag: dict[str, int] = {}   # "topic:partition" -> messages behind
        self._forgotten_v: bytes | None = None    # forgotten:v when last read

    def stop(self) -> None:
        self._stop.set()

    async def restore(self) -> None:
        snap = await wait_out(
            lambda: load_snapshot(self._r, self._keys.key(SNAPSHOT_KEY), self._key),
            limit_s=self.settings.redis.outage_wait_s, what="Redis", rng=self._rng)
        if snap:
            self.model, self.offsets, self.version = snap["model"], snap["offsets"], \
                snap["version"]
            log.warning("learner: restored snapshot %d (%d events)", self.version,
                        self.model.events)

    async def snapshot(self) -> None:
        """Publish models + offsets atomically (one value) and bump the version; a Redis
        outage is waited out (up to ``outage_wait_s``), the same version retried."""
        self.version += 1
        await wait_out(self._publish, limit_s=self.settings.redis.outage_wait_s, what="Redis",
                       rng=self._rng)

    async def _publish(self) -> None:
        blob = snapshots.dumps({"model": self.model, "offsets": dict(self.offsets),
                                "version": self.version, "ts": time.time(),
                                "metrics": self.model.metrics()}, self._key)
        k = self._keys.key       # (one slot on a cluster: a transaction there too)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(k(SNAPSHOT_KEY), blob)
            pipe.set(k(VERSION_KEY), self.version)
            pipe.set(k("model:metrics"), orjson.dumps({**self.model.metrics(),
                                                       "version": self.version}))
            pipe.hset(k("workers"), "learner", self._beat())
            await pipe.execute()
        self._last_beat = time.monotonic()

    def _beat(self) -> bytes:
        return orjson.dumps({"role": "learner", "ts": time.time(), "events": self.model.events,
                             "version": self.version, "lag": self.lag,
                             "partitions": dict(self.partition_lag)})

    async def heartbeat(self) -> None:
        """The learner's liveness in ``workers`` (also while idle); a miss is not fatal."""
        self._last_beat = time.monotonic()
        try:
            await self._r.hset(self._keys.key("workers"), "learner",
                               self._beat())
        except Exception as exc:  # noqa: BLE001
            log.warning("learner heartbeat not written: %r", exc)

    async def run(self, until_idle_s: float | None = None) -> None:
        """Learn until stopped (or, with ``until_idle_s``, until no event came for that long)."""
        s = self.settings
        await self.restore()
        topics = [s.topic(t) for t in (*EVENT_TOPICS, TOPIC_CATALOG, TOPIC_FORGET)]
        kinds = {s.topic(t): k for t, k in EVENT_TOPICS.items()}
        forget = s.topic(TOPIC_FORGET)
        consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka.broker, group_id=None,
                                    **client_kwargs(s),
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    fetch_max_wait_ms=s.kafka.fetch_max_wait_ms)
        await consumer.start()
        try:
            await self._assign(consumer, topics)
            since, last_snap, last_event = 0, time.monotonic(), time.monotonic()
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200,
                                               max_records=min(2000, self.snapshot_every))
                await wait_out(self._forgotten, limit_s=s.redis.outage_wait_s, what="Redis",
                               rng=self._rng)
                forgot = False
                for tp, msgs in batch.items():
                    for m in msgs:
                        if m.topic in kinds:
                            self._learn_event(kinds[m.topic], m.value)
                        elif m.topic == forget:
                            forgot = self._tombstone(m.value) or forgot
                        else:
                            self._learn_catalog(m.value)
                        self.offsets[(tp.topic, tp.partition)] = m.offset + 1
                        since += 1
                now = time.monotonic()
                if batch:
                    last_event = now
                    self.partition_lag.update(
                        (f"{tp.topic}:{tp.partition}", max(0, (consumer.highwater(tp) or 0)
                                                          - self.offsets.get((tp.topic,
                                                                              tp.partition), 0)))
                        for tp in batch)
                    self.lag = sum(self.partition_lag.values())
                if now - self._last_beat >= 1.0:
                    await self.heartbeat()
                if since and (since >= self.snapshot_every or forgot or
                              now - last_snap >= self.snapshot_seconds):
                    await self.snapshot()
                    since, last_snap = 0, now
                if until_idle_s is not None and now - last_event > until_idle_s:
                    break
            if since:
                await self.snapshot()
        finally:
            await consumer.stop()
            await self._r.aclose()

    async def _assign(self, consumer: AIOKafkaConsumer, topics: list[str]) -> None:
        """Read every partition of ``topics`` from the snapshot's offsets (or the start)."""
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            if (tp.topic, tp.partition) in self.offsets:
                consumer.seek(tp, self.offsets[(tp.topic, tp.partition)])
            else:
                await consumer.seek_to_beginning(tp)

    def _learn_catalog(self, raw: bytes | None) -> None:
        c = parse_catalog(raw, self.settings.serving.max_event_bytes)
        if not isinstance(c, Rejection):
            self.model.catalog_change(c)

    async def _forgotten(self) -> None:
        """Follow ``forgotten`` in Redis (when ``forgotten:v`` moved): forget the users
        newly in it, learn again from those no longer in it."""
        v = await self._r.get(self._keys.key("forgotten:v"))
        if v == self._forgotten_v:
            return
        users = {u.decode() for u in await self._r.hkeys(self._keys.key("forgotten"))}
        for u in users - self.model.forgotten:
            held = self.model.forget(u)      # (no user id in the log: it is gone)
            log.info("learner: forgot a user (%s)", ", ".join(held) or "nothing learned")
        for u in self.model.forgotten - users:
            self.model.consent(u)
        self._forgotten_v = v

    def _tombstone(self, raw: bytes | None) -> bool:
        """One ``users.forget`` message (already applied from Redis before its batch):
        True if it is a valid one, so that the batch ends with a snapshot."""
        try:
            _tombstones.decode(raw or b"")
        except msgspec.DecodeError as e:
            log.warning("learner: users.forget message ignored: %s", e)
            return False
        return True

    def _learn_event(self, kind: str | None, raw: bytes | None) -> None:
        """Learn one event (``kind`` None: the mixed ``events`` topic)."""
        s = self.settings
        ev = parse_interaction(raw, kind, s.serving.max_event_bytes)
        if not isinstance(ev, Rejection):   # the worker dead-letters bad events
            self.model.learn(ev)


def main(settings: Settings) -> int:
    """Run the learner with ``settings`` until SIGINT or SIGTERM."""
    if not settings.kafka.broker or not settings.redis.redis_url:
        raise StreamrecError("the learner needs STREAMREC_BROKER and STREAMREC_REDIS_URL "
                             "(--broker, --redis-url): it reads the topics and publishes "
                             "snapshots to Redis")

    async def run() -> int:
        learner = Learner(settings, settings.serving.learner_snapshot_every,
                          settings.serving.learner_snapshot_seconds)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, learner.stop)
        await learner.run()
        return 0
    return asyncio.run(run())
