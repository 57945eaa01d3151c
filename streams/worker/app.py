"""The Faust app, declared once: topics, the catalog agent and the worker's service.

The event topics are consumed by the service's aiokafka consumer (``streams/worker/consumer.py``:
Faust's per-event stream cost ~57x the events/s of plain ``getmany`` batches here), and
per-user state lives in Redis (``state/users.py``). Settings come from ``STREAMREC_*``
env vars when this module is imported (the CLI sets them from flags first). Run it with
``streamrec worker``.
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

from streamrec.state.redis_store import RedisStore
from streamrec.state.users import RedisUsers
from streamrec.streams.kafka_security import faust_credentials
from streamrec.streams.outage import wait_out
from streamrec.streams.records import EVENT_TOPICS, TOPIC_CATALOG, TOPIC_DLQ, TOPIC_RECS
from streamrec.streams.settings import Settings
from streamrec.streams.topics import ensure_topics
from streamrec.streams.worker.catalog_rebuild import rebuild_catalog
from streamrec.streams.worker.consumer import EventConsumer
from streamrec.streams.worker.kafka_tuning import set_fetch_max_wait
from streamrec.streams.worker.processor import Message, Processor
from streamrec.streams.worker.scoring_client import Scoring, ScoringClient

if TYPE_CHECKING:     # installed by `streamrec evaluate` only
    from streamrec.streams.tools.evaluation import Evaluation

log = logging.getLogger(__name__)

settings = Settings.from_env()
if not settings.broker or not settings.redis_url:
    raise SystemExit("streamrec worker needs STREAMREC_BROKER and STREAMREC_REDIS_URL "
                     "(or --broker/--redis-url); `streamrec demo` starts embedded ones")

set_fetch_max_wait(settings.fetch_max_wait_ms)
FAUST_SESSION_S = 6.0


def _datadir() -> str:
    """STREAMREC_FAUST_DATADIR, else a temporary folder removed when the process exits
    (tables are memory stores restored from their changelogs, so nothing is lost)."""
    given = os.environ.get("STREAMREC_FAUST_DATADIR")
    if given:
        return given
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


app = faust.App(
    settings.app_id,
    Worker=QuietWorker,
    broker=[f"kafka://{hp}" for hp in settings.broker.split(",")],
    broker_credentials=faust_credentials(settings),
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
    # Tansu holds a first JoinGroup for half the session timeout; short timeouts keep
    # start-up and fail-over in seconds. Faust's group reads only the catalog (the event
    # topics' consumer has STREAMREC_SESSION_TIMEOUT_S), and the worker's service starts
    # after it has joined: a short session here keeps the two joins from adding up.
    broker_rebalance_timeout=3.0,
    broker_session_timeout=min(settings.session_timeout_s, FAUST_SESSION_S),
    broker_heartbeat_interval=min(1.0, settings.session_timeout_s / 3),
)

_raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
        "value_serializer": "raw", "partitions": settings.partitions}
catalog_topic = app.topic(settings.topic(TOPIC_CATALOG), compacting=True, **_raw)
recs_topic = app.topic(settings.topic(TOPIC_RECS), **_raw)
dlq_topic = app.topic(settings.topic(TOPIC_DLQ), **_raw)


_topics = {recs_topic.get_topic_name(): recs_topic, dlq_topic.get_topic_name(): dlq_topic}


async def _send(topic: str, key: bytes | None, value: bytes) -> None:
    await _topics[topic].send(key=key, value=value)


class RedisService(mode.Service):
    """Owns the worker's Redis client (connections open lazily), the batch processor and
    the event topics' consumer (started after Redis answers, stopped before it closes)."""

    def __post_init__(self) -> None:
        self.scoring: Scoring | None = ScoringClient(settings) if settings.scorer else None
        self.store = RedisStore(settings.redis_url, settings.redis_prefix,
                                half_life_s=settings.half_life_s,
                                covisit_cap=settings.covisit_cap)
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.users = RedisUsers(self.store)
        self.processor = Processor(settings, self.store, self.users, _send, worker_id,
                                   self.scoring)
        self.consumer = EventConsumer(settings, self.processor, self.users)
        self._consuming: asyncio.Task[None] | None = None

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
        await ensure_topics(settings, (*EVENT_TOPICS, TOPIC_CATALOG))  # as Faust declares
        if not await self.store.catalog_built():
            n = await rebuild_catalog(settings, self.store)   # Redis lost it, or first start
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


redis_service = app.service(RedisService())


def _messages(events: list[faust.EventT]) -> list[Message]:
    return [Message(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                    e.message.value, e.message.timestamp) for e in events]


@app.agent(catalog_topic)
async def catalog(stream: faust.StreamT) -> None:
    """catalog.updates -> stock, price and metadata in Redis (sold out = filtered at once)."""
    rng = random.Random(settings.seed)
    async for batch in stream.take_events(settings.batch_size, within=0.01):
        await wait_out(functools.partial(redis_service.processor.process_catalog,
                                         _messages(batch)),
                       limit_s=settings.outage_wait_s, what="Redis", rng=rng)


def run() -> None:
    """Run the worker until it is stopped (SIGTERM, Ctrl-C); exits the process. The
    Worker that ``faust worker`` would make, made here without its command line."""
    level = {"warning": "warn"}.get(settings.log_level, settings.log_level)
    worker = QuietWorker(app, quiet=True, loglevel=level,
                         redirect_stdouts=app.conf.worker_redirect_stdouts,
                         redirect_stdouts_level=app.conf.worker_redirect_stdouts_level,
                         blocking_timeout=app.conf.blocking_timeout)
    worker.execute_from_commandline()
