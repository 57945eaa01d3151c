"""Shared parts of the fault tests: a seeded event log with bad messages mixed in, and the
state a run leaves in Redis, read so that two runs can be compared."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import orjson
import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.settings import Settings
from streamrec.streams.tools.replay import Producer
from streamrec.streams.topics import ensure_topics
from tests.conftest import eventually

T0 = 1_700_000_000.0
ITEMS = [str(i) for i in range(1, 81)]
N = 4000               # messages in the fault tests' log
SEED = 11


def fault_settings(broker: str, redis_url: str, **kw: Any) -> Settings:
    """Fresh names, small batches (many commits: more moments to fail between)."""
    n = "f" + uuid.uuid4().hex[:10]
    return Settings.from_env({}, broker=broker, redis_url=redis_url, topic_prefix=f"{n}.",
                             redis_prefix=f"{n}:", app_id=n, partitions=2, k=10,
                             batch_size=50, river_weight=0.0, snapshot_key="k" * 32, **kw)


@pytest.fixture(scope="session")
def calm_state(broker, redis_server) -> dict[str, Any]:
    """The state the fault tests' log leaves with no fault: what each fault run must equal."""
    async def run() -> dict[str, Any]:
        s = fault_settings(broker.bootstrap, redis_server.url)
        await ensure_topics(s)
        log, good, bad = event_log(N, SEED)
        worker = start_worker(s)
        try:
            async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store, \
                    Producer(s) as producer:
                await load_catalog(store, producer)
                await send_log(producer, log)
                m = await counted(store, N)
                assert (m["events_total"], m["dlq_total"]) == (good, bad)
                return await shared_state(store)
        finally:
            stop_worker(worker)
    return asyncio.run(run())


def event_log(n: int, seed: int, users: int = 40, bad_every: int = 50
              ) -> tuple[list[tuple[str, str, bytes]], int, int]:
    """(topic, key, payload) of ``n`` messages on the mixed ``events`` topic; every
    ``bad_every``-th is malformed. Returns the log, the valid count and the bad count."""
    rng = random.Random(seed)
    out, good, bad = [], 0, 0
    for k in range(n):
        u = f"u{rng.randrange(users)}"
        if k % bad_every == bad_every - 1:
            out.append(("events", u, rng.choice([b"{oops", b'{"type":"view"}', b"[]"])))
            bad += 1
            continue
        kind = rng.choices(["view", "click", "purchase"], [8, 3, 1])[0]
        ev: dict[str, Any] = {"event_id": f"e{k}", "type": kind, "user_id": u,
                              "item_id": rng.choice(ITEMS), "ts": T0 + k}
        if kind == "purchase":
            ev["price"], ev["quantity"] = 9.5, rng.randint(1, 3)
        out.append(("events", u, orjson.dumps(ev)))
        good += 1
    return out, good, bad


async def load_catalog(store: RedisStore, producer: Producer) -> None:
    for i in ITEMS:
        await producer.send("catalog.updates", i, {"item_id": i, "stock": 100,
                                                   "category": f"c{int(i) % 5}", "price": 9.5})
    await producer.flush()

    async def loaded():
        m, _, _ = await store.read_metrics()
        return m.get("catalog_total", 0) >= len(ITEMS)
    await eventually(loaded, 90)


async def send_log(producer: Producer, log: list[tuple[str, str, bytes]]) -> None:
    for topic, key, payload in log:
        await producer.send(topic, key, payload)
    await producer.flush()


async def counted(store: RedisStore, n: int, timeout: float = 180.0) -> dict[str, float]:
    """Wait until events + DLQ counters reach ``n``; the metrics then."""
    async def done():
        m, _, _ = await store.read_metrics()
        return m if m.get("events_total", 0) + m.get("dlq_total", 0) >= n else None
    return await eventually(done, timeout, 0.2)


async def shared_state(store: RedisStore) -> dict[str, Any]:
    """What the events left in Redis: counters, trending, co-visitation, user states."""
    r, p = store.client, store.prefix
    m, _, _ = await store.read_metrics()
    cv, users = {}, {}
    async for key in r.scan_iter(match=p + "*", count=1000):
        name = key[len(p):].split("}", 1)[-1]      # (on Redis Cluster: after the hash tag)
        if name.startswith("cv:"):
            cv[name] = dict(await r.zrange(key, 0, -1, withscores=True))
        elif name.startswith("user:"):
            users[name] = orjson.loads(await r.get(key))
    # trending is stored relative to the time of the first event applied (pop:t0), which
    # depends on how the first batch was cut: scores are compared at one base time, T0
    t0 = float(await r.get(store.key("pop:t0")) or T0)
    scale = 2.0 ** ((t0 - T0) / store.half_life_s)
    pop = {i: sc * scale for i, sc in await r.zrange(store.key("pop"), 0, -1,
                                                     withscores=True)}
    return {"events": m.get("events_total", 0), "dlq": m.get("dlq_total", 0),
            "duplicates": m.get("duplicates_total", 0), "pop": pop,
            "cv": cv, "users": users}


def assert_same_state(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal counters and user states; equal trending and co-visitation up to float
    rounding (sums of the same terms, added in another order across batches)."""
    import pytest
    for name in ("events", "dlq", "duplicates", "users"):
        assert got[name] == want[name], name
    assert got["pop"].keys() == want["pop"].keys()
    assert got["pop"] == pytest.approx(want["pop"], rel=1e-9)
    assert got["cv"].keys() == want["cv"].keys()
    for k, row in want["cv"].items():
        assert got["cv"][k] == pytest.approx(row, rel=1e-9), k
