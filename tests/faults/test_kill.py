"""kill -9 of the worker, five times at seeded moments of a replay: the state equals that
of a run without a crash (nothing lost, nothing counted twice)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.tools.replay import Producer
from streamrec.streams.topics import ensure_topics
from tests.faults.conftest import (
    SEED,
    N,
    assert_same_state,
    counted,
    event_log,
    fault_settings,
    load_catalog,
    send_log,
    shared_state,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

KILLS = 5


async def _progress(store: RedisStore) -> float:
    m, _, _ = await store.read_metrics()
    return m.get("events_total", 0) + m.get("dlq_total", 0)


@pytest.mark.parametrize("backend", ["redis", "cluster"])
async def test_kill_minus_9_five_times_loses_and_doubles_nothing(broker, redis_server,
                                                                 calm_state, backend,
                                                                 request):
    """On one Redis, and on a Redis Cluster of three masters, where a kill can also fall
    between a batch's fence and its shares (state/cluster_store.py): both end in the
    state of the calm run on one Redis."""
    if backend == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        s = fault_settings(broker.bootstrap, cluster.url, redis_cluster=True)
    else:
        s = fault_settings(broker.bootstrap, redis_server.url)
    await ensure_topics(s)
    log, _, _ = event_log(N, SEED)
    rng = random.Random(1234)
    at = sorted(rng.uniform(0.05, 0.9) * N for _ in range(KILLS))
    recover = []
    async with (s.open_store() as store, Producer(s) as producer):
        worker = start_worker(s)
        try:
            await load_catalog(store, producer)
            await send_log(producer, log)
            for threshold in at:
                while (before := await _progress(store)) < threshold:
                    await asyncio.sleep(0.02)
                worker.kill()                       # SIGKILL: no clean-up at all
                worker.wait(10)
                killed_at = time.monotonic()
                worker = start_worker(s)
                while (now := await _progress(store)) <= before and now < N:
                    assert worker.poll() is None, "restarted worker exited"
                    await asyncio.sleep(0.05)
                recover.append(round(time.monotonic() - killed_at, 1))
            await counted(store, N)
            got = await shared_state(store)
        finally:
            stop_worker(worker)
    print(f"{backend}: kill -9 at {[round(a) for a in at]} of {N}; applying again after "
          f"{recover} s")
    assert_same_state(got, calm_state)
    assert len(got["users"]) == 40
