"""The Faust app, declared once: topics, the catalog agent and the worker's service.

The event topics are consumed by the service's aiokafka consumer (``streams/worker/consumer.py``:
Faust's per-event stream cost ~57x the events/s of plain ``getmany`` batches here), and
per-user state lives in Redis (``state/users.py``). ``create(settings)`` declares the
app from a ``Settings`` object (nothing is read from the environment at import). Run it
with ``streamrec worker``.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import logging
import os
import random
import shutil
import socket
import tempfile
from typing import TYPE_CHECKING

import faust
import mode

from streamrec.state.users import RedisUsers
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.kafka_security import faust_credentials
from streamrec.streams.logs import logging_config
from streamrec.streams.outage import wait_out
from streamrec.streams.records import (
    EVENT_TOPICS,
    TOPIC_CATALOG,
    TOPIC_DLQ,
    TOPIC_IMPRESSIONS,
    TOPIC_RECS,
)
from streamrec.streams.settings import Settings
from streamrec.streams.topics import ensure_topics
from streamrec.streams.worker.catalog_rebuild import rebuild_catalog
from streamrec.streams.worker.consumer import EventConsumer
from streamrec.streams.worker.kafka_tuning import set_fetch_max_wait
from streamrec.streams.worker.processor import Message, Processor, Send
from streamrec.streams.worker.scoring_client import Scoring, ScoringClient

if TYPE_CHECKING:     # installed by `streamrec evaluate` only
    from streamrec.streams.tools.evaluation import Evaluation

log = logging.getLogger(__name__)

FAUST_SESSION_S = 6.0


def _datadir() -> str:
    """A temporary folder removed when the process exits (tables are memory stores
    restored from their changelogs, so nothing is lost)."""
    tmp = tempfile.mkdtemp(prefix="streamrec-")
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


class QuietWorker(faust.Worker):
    """faust's Worker without its terminal spinner.

    To turn the spinner on every log record, faust sets the root logger to DEBUG at start
    and never sets it back, so every debug call in aiokafka and faust builds a record
    (``findCaller`` included) that the handler then drops: 2.5% of the worker's CPU at
    2,000 events/s in a py-spy profile. Without it the root logger keeps
    ``STREAMREC_LOG_LEVEL``."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


class RedisService(mode.Service):
    """Owns the worker's Redis client (connections open lazily), the batch processor and
    the event topics' consumer (started after Redis answers, stopped before it closes)."""

    def __init__(self, settings: Settings, send: Send) -> None:
        self.settings = settings
        self.scoring: Scoring | None = ScoringClient(settings) if settings.ranking.scorer else None
        self.store = settings.open_store(half_life_s=settings.ranking.half_life_s,
                                         covisit_cap=settings.ranking.covisit_cap)
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.users = RedisUsers(self.store)
        self.processor = Processor(settings, self.store, self.users, send, worker_id,
                                   self.scoring)
        self.consumer = EventConsumer(settings, self.processor, self.users)
        self._consuming: asyncio.Task[None] | None = None
        super().__init__()

    def install(self, evaluation: Evaluation) -> None:
        """What ``streamrec evaluate`` installs before the worker starts
        (``streams/tools/evaluation.py``); serving never calls it."""
        self.processor.install(evaluation)
        inline = evaluation.scoring()
        if inline is not None:      # every list scored in this process, no deadline
            self.scoring = self.processor.lists.scoring = inline

    async def on_start(self) -> None:
        # Everything loaded so far (modules, Faust's app) lives as long as the process:
        # move it out of the collector's sight, so a full collection scans only what the
        # worker made since (it scanned ~95k objects in ~50 ms, stalling one batch).
        gc.collect()
        gc.freeze()
        await self.store.ping()
        await ensure_topics(self.settings, (*EVENT_TOPICS, TOPIC_CATALOG))  # as Faust does
        if not await self.store.catalog_built():
            n = await rebuild_catalog(self.settings, self.store)   # Redis lost it, or first start
            log.warning("catalog rebuilt from %s: %d changes", TOPIC_CATALOG, n)
        if self.scoring is not None:
            await self.scoring.start()
        self._consuming = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        try:
            await self.consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker must not live on without consuming events
            log.exception("event consumer failed")
            await self.crash(exc)

    async def on_stop(self) -> None:
        self.consumer.stop()
        if self._consuming is not None:
            await self._consuming
        if self.scoring is not None:
            await self.scoring.stop()
        await self.store.aclose()


def _messages(events: list[faust.EventT]) -> list[Message]:
    return [Message(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                    e.message.value, e.message.timestamp) for e in events]


class Worker:
    """The Faust app of one worker process, declared from ``settings``: the catalog
    agent, the event service (``service``) and the topics it writes."""

    def __init__(self, settings: Settings) -> None:
        if not settings.kafka.broker or not settings.redis.redis_url:
            raise StreamrecError("streamrec worker needs STREAMREC_BROKER and "
                                 "STREAMREC_REDIS_URL (or --broker/--redis-url); "
                                 "`streamrec demo` starts embedded ones")
        self.settings = s = settings
        set_fetch_max_wait(s.kafka.fetch_max_wait_ms)
        self.app = app = _faust_app(s)
        raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
               "value_serializer": "raw", "partitions": s.kafka.partitions}
        catalog_topic = app.topic(s.topic(TOPIC_CATALOG), compacting=True, **raw)
        self._topics = {t.get_topic_name(): t for t in
                        (app.topic(s.topic(name), **raw)
                         for name in (TOPIC_RECS, TOPIC_DLQ, TOPIC_IMPRESSIONS))}
        self.service = app.service(RedisService(s, self._send))
        app.agent(catalog_topic, name="catalog")(self._catalog)

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        await self._topics[topic].send(key=key, value=value)

    async def _catalog(self, stream: faust.StreamT) -> None:
        """catalog.updates -> stock, price and metadata in Redis (sold out = filtered at
        once)."""
        s = self.settings
        rng = random.Random(s.serving.seed)
        async for batch in stream.take_events(s.kafka.batch_size, within=0.01):
            await wait_out(functools.partial(self.service.processor.process_catalog,
                                             _messages(batch)),
                           limit_s=s.redis.outage_wait_s, what="Redis", rng=rng)

    def install(self, evaluation: Evaluation) -> None:
        """What ``streamrec evaluate`` installs before the worker starts."""
        self.service.install(evaluation)

    def run(self) -> None:
        """Run the worker until it is stopped (SIGTERM, Ctrl-C); exits the process."""
        self.mode_worker().execute_from_commandline()

    def mode_worker(self) -> QuietWorker:
        """The Worker that ``faust worker`` would make, made here without its command
        line (logging as ``STREAMREC_LOG_LEVEL`` and ``STREAMREC_LOG_FORMAT`` say)."""
        level = self.settings.serving.log_level
        conf = self.app.conf
        return QuietWorker(self.app, quiet=True, loglevel={"warning": "warn"}.get(level, level),
                           redirect_stdouts=conf.worker_redirect_stdouts,
                           redirect_stdouts_level=conf.worker_redirect_stdouts_level,
                           blocking_timeout=conf.blocking_timeout,
                           logging_config=(logging_config(level, "json")
                                           if self.settings.serving.log_format == "json"
                                           else None))


def _faust_app(s: Settings) -> faust.App:
    return faust.App(
        s.kafka.app_id,
        Worker=QuietWorker,
        broker=[f"kafka://{hp}" for hp in s.kafka.broker.split(",")],
        broker_credentials=faust_credentials(s),
        store="memory://",            # restored from the changelog topic on start
        datadir=_datadir(),
        web_enabled=False,
        topic_partitions=s.kafka.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        producer_linger_ms=2,
        table_standby_replicas=0,
        # Tansu holds a first JoinGroup for half the session timeout; short timeouts keep
        # start-up and fail-over in seconds. Faust's group reads only the catalog (the event
        # topics' consumer has STREAMREC_SESSION_TIMEOUT_S), and the worker's service starts
        # after it has joined: a short session here keeps the two joins from adding up.
        broker_rebalance_timeout=3.0,
        broker_session_timeout=min(s.kafka.session_timeout_s, FAUST_SESSION_S),
        broker_heartbeat_interval=min(1.0, s.kafka.session_timeout_s / 3),
    )
