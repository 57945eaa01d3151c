"""Shared fixtures: a real Tansu broker and a real redis-server per test session,
fresh topic / key / group names per test, and a worker subprocess factory."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import RedisClusterServer, RedisServer, TansuBroker
from streamrec.streams.exceptions import EmbeddedStartError
from streamrec.streams.settings import Settings
from streamrec.streams.topics import ensure_topics

_OFFSETS = itertools.count()


def stored_list(user: str, items: str | list[str], made: float = 1.0, **fields) -> bytes:
    """``rec:{user}`` as a worker writes it (``schemas.StoredList``), scores descending."""
    from streamrec.streams import schemas

    return schemas.encode(schemas.StoredList(
        user_id=user, items=[schemas.ListItem(i, 1.0 / (n + 1)) for n, i in enumerate(items)],
        impression_id=fields.pop("impression_id", None), policy=fields.pop("policy", "p"),
        model_version=fields.pop("model_version", "v"), generated_at=made, **fields))


async def seed_figures(store, *, latencies_ms=(), worker_info=None) -> None:
    """Write the figures of a small cluster into ``store`` as its writers do: one worker
    batch (3 dead letters of two kinds, a prequential tally and curve), two sold-out
    items, a River snapshot, the scorer's figures and experiment ``e1`` with 10
    impressions and two clicks."""
    import orjson

    from streamrec.models.events import CatalogChange
    from streamrec.models.experiments import Experiment
    from streamrec.models.prequential import Tally
    from streamrec.state.batch import BatchWrite, Impressions

    await store.record_batch(events=5, dlq=3, dlq_reasons={"timestamp": 2, "unknown_item": 1},
                             recs=4, catalog=0, latencies_ms=list(latencies_ms), worker="w1",
                             worker_info=worker_info or {},
                             tally=Tally(judged=8, hits=2), curve={
                                 600: Tally(judged=5, hits=1), 601: Tally(judged=3, hits=1)})
    await store.apply_catalog([CatalogChange(i, stock=s)
                               for i, s in zip("abc", (0, 0, 4), strict=True)])
    await store.put_snapshot(b"models", 7, {"ctr_auc": 0.5})
    await store.client.set(store.key("scorer"), orjson.dumps({
        "requests": 0, "batches": 0, "batch_sizes": {}, "queue_wait_s": 0, "compute_s": 0,
        "requests_per_s": 0, "queued": 0, "model_version": "seq-abc", "device": "cpu"}))
    await store.create_experiment(Experiment(name="e1", variants=["blend", "covisit"]))
    await store.commit(BatchWrite(impressions=Impressions("e1", 3600, 1.0, "value", [
        (f"i{n}", "blend" if n % 2 else "covisit", f"u{n}") for n in range(10)])))
    await store.commit(BatchWrite(rewards=[("i1", "click", 1.0), ("i3", "click", 1.0)]))


def next_offset() -> int:
    """A Kafka offset never used before in this test session: the worker applies a topic
    partition's offsets once (below its watermark a message is skipped), so tests that
    hand messages to a Processor number them like a partition does."""
    return next(_OFFSETS)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        with RedisServer() as r:
            yield r
    except EmbeddedStartError as e:
        pytest.skip(f"cannot start redis-server: {e}")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    """A Redis Cluster of three masters on loopback, for the whole session."""
    try:
        with RedisClusterServer(masters=3) as c:
            yield c
    except EmbeddedStartError as e:
        pytest.skip(f"cannot start a Redis Cluster: {e}")


@pytest.fixture(scope="session")
def broker() -> Iterator[TansuBroker]:
    try:
        with TansuBroker() as b:
            yield b
    except EmbeddedStartError as e:
        pytest.skip(f"cannot start the Tansu broker: {e}")


@pytest.fixture(scope="session")
def data_dir():
    """movielens-small (../shared/data or STREAMREC_DATA_DIR); skipped, saying why, if absent."""
    from streamrec.streams.exceptions import DataMissing
    try:
        return Settings.from_env().resolved_data_dir()
    except DataMissing as e:
        pytest.skip(str(e))


@pytest.fixture
def names() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_settings(redis_server: RedisServer, names: str) -> Settings:
    """Settings with a fresh Redis key prefix (no broker)."""
    return Settings.from_env({}, redis_url=redis_server.url, redis_prefix=f"{names}:",
                             topic_prefix=f"{names}.", app_id=names, partitions=2, k=10,
                             snapshot_key=f"test-snapshot-key-{names}",
                             admin_token=f"test-admin-token-{names}")


@pytest.fixture
def settings(broker: TansuBroker, redis_settings: Settings) -> Settings:
    """Settings with fresh topics (created) and a fresh consumer group."""
    s = redis_settings.replace(broker=broker.bootstrap)
    asyncio.run(ensure_topics(s))
    return s


@pytest.fixture
def worker_factory(settings: Settings) -> Iterator[Callable[..., object]]:
    procs = []

    def start(s: Settings | None = None):
        p = start_worker(s or settings)
        procs.append(p)
        return p

    yield start
    for p in procs:
        stop_worker(p)


async def eventually(check: Callable, timeout: float = 30.0, interval: float = 0.1):
    """Await ``check()`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with ``labels`` (a subset) in Prometheus text, or None."""
    from prometheus_client.parser import text_string_to_metric_families
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None
