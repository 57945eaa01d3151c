"""The Faust app, declared once: topics, the per-user table and two thin agents.

Settings come from ``STREAMREC_*`` env vars when this module is imported (the CLI sets
them from flags first). Run it with ``streamrec worker``.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import shutil
import socket
import tempfile

import faust
import mode
import orjson

from streamrec.state.redis_store import RedisStore

from .batching import adaptive_wait, take_events
from .kafka_tuning import set_fetch_max_wait
from .processor import Message, Processor
from .records import EVENT_TOPICS, TOPIC_CATALOG, TOPIC_DLQ, TOPIC_RECS
from .scoring_client import ScoringClient
from .settings import Settings

log = logging.getLogger(__name__)

settings = Settings.from_env()
if not settings.broker or not settings.redis_url:
    raise SystemExit("streamrec worker needs STREAMREC_BROKER and STREAMREC_REDIS_URL "
                     "(or --broker/--redis-url); `streamrec demo` starts embedded ones")

set_fetch_max_wait(settings.fetch_max_wait_ms)


def _datadir() -> str:
    """STREAMREC_FAUST_DATADIR, else a temporary folder removed when the process exits
    (tables are memory stores restored from their changelogs, so nothing is lost)."""
    given = os.environ.get("STREAMREC_FAUST_DATADIR")
    if given:
        return given
    tmp = tempfile.mkdtemp(prefix="streamrec-")
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


app = faust.App(
    settings.app_id,
    broker=[f"kafka://{hp}" for hp in settings.broker.split(",")],
    store="memory://",            # restored from the changelog topic on start
    datadir=_datadir(),
    web_enabled=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    topic_allow_declare=True,
    consumer_auto_offset_reset="earliest",
    broker_commit_every=1000,
    broker_commit_interval=1.0,
    producer_linger_ms=2,
    table_standby_replicas=0,
    # Tansu holds a JoinGroup for the whole rebalance timeout; short timeouts keep
    # start-up and fail-over in seconds (a departed member is noticed within the session).
    broker_rebalance_timeout=3.0,
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 3),
)

_raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
        "value_serializer": "raw", "partitions": settings.partitions}
events_topic = app.topic(*(settings.topic(t) for t in EVENT_TOPICS), **_raw)
catalog_topic = app.topic(settings.topic(TOPIC_CATALOG), **_raw)
recs_topic = app.topic(settings.topic(TOPIC_RECS), **_raw)
dlq_topic = app.topic(settings.topic(TOPIC_DLQ), **_raw)

users = app.Table(
    f"{settings.topic_prefix}users",
    default=None,
    partitions=settings.partitions,
    key_type=bytes,              # same bytes as the event key: same partition as the user
    # values are orjson bytes, not dicts: the changelog write is the bytes as they are, and
    # the garbage collector has no per-user lists to walk (a full collection of dict
    # values took ~50 ms at 200 users, a pause in the middle of a batch)
    value_type=bytes,
    use_partitioner=True,
    help="Per user: recent items (newest first), seen items, bought items, last event ts.",
)


_topics = {recs_topic.get_topic_name(): recs_topic, dlq_topic.get_topic_name(): dlq_topic}


async def _send(topic: str, key: bytes | None, value: bytes) -> None:
    await _topics[topic].send(key=key, value=value)


class _UserTable:
    """str-keyed view of the bytes-keyed ``users`` table."""

    def get(self, user_id: str) -> dict | None:
        raw = users.get(user_id.encode())
        return orjson.loads(raw) if raw else None

    def __setitem__(self, user_id: str, value: dict) -> None:
        users[user_id.encode()] = orjson.dumps(value)


class RedisService(mode.Service):
    """Owns the worker's Redis client (connections open lazily) and the batch processor."""

    def __post_init__(self) -> None:
        self.scoring = ScoringClient(settings) if settings.scorer else None
        self.store = RedisStore(settings.redis_url, settings.redis_prefix,
                                dedup_ttl_s=settings.dedup_ttl_s,
                                half_life_s=settings.half_life_s,
                                covisit_cap=settings.covisit_cap)
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        river = None
        if settings.river_inline:   # evaluation: this worker trains River, test then train
            from streamrec.models.online_learner import OnlineLearner
            river = OnlineLearner(seed=settings.seed)
        self.processor = Processor(settings, self.store, _UserTable(), _send, worker_id,
                                   self.scoring, river=river)

    async def on_start(self) -> None:
        # Everything loaded so far (modules, Faust's app) lives as long as the process:
        # move it out of the collector's sight, so a full collection scans only what the
        # worker made since (it scanned ~95k objects in ~50 ms, stalling one batch).
        gc.collect()
        gc.freeze()
        await self.store.ping()
        if self.scoring is not None:
            await self.scoring.start()

    async def on_stop(self) -> None:
        await self.processor.drain()
        if self.scoring is not None:
            await self.scoring.stop()
        await self.store.aclose()


redis_service = app.service(RedisService())

def _messages(events: list[faust.EventT]) -> list[Message]:
    return [Message(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                    e.message.value, e.message.timestamp) for e in events]


def _lag(events: list[faust.EventT]) -> int:
    last = {}
    for e in events:
        last[e.message.tp] = e.message.offset
    lag = 0
    for tp, off in last.items():
        hw = app.consumer.highwater(tp)
        if hw is not None:
            lag += max(0, hw - off - 1)
    return lag


@app.agent(events_topic)
async def ingest(stream: faust.StreamT) -> None:
    """view/click/purchase events -> state, shared counters, fresh top-K per user."""
    proc = redis_service.processor

    def wait() -> float:      # short when caught up, long when behind (streams/batching.py)
        return adaptive_wait(proc.lag, settings.batch_backlog_events,
                             settings.batch_wait_ms / 1000.0,
                             settings.batch_backlog_wait_ms / 1000.0)
    async for batch in take_events(stream, settings.batch_size, wait):
        proc.lag = _lag(batch)
        await proc.process_events(_messages(batch))


@app.agent(catalog_topic)
async def catalog(stream: faust.StreamT) -> None:
    """catalog.updates -> stock, price and metadata in Redis (sold out = filtered at once)."""
    async for batch in stream.take_events(settings.batch_size, within=0.01):
        await redis_service.processor.process_catalog(_messages(batch))
