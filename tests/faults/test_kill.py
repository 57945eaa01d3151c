"""kill -9 of the worker, five times at seeded moments of a replay: the state equals that
of a run without a crash (nothing lost, nothing counted twice)."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.demo import start_worker, stop_worker
from streamrec.streams.replay import Producer
from streamrec.streams.topics import ensure_topics
from tests.faults.conftest import (
    assert_same_state,
    counted,
    event_log,
    load_catalog,
    send_log,
    shared_state,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

N = 4000
KILLS = 5


async def test_kill_minus_9_five_times_loses_and_doubles_nothing(settings):
    log, good, bad = event_log(N, seed=11)
    runs = {}
    report = {}
    for name, kills in (("calm", 0), ("killed", KILLS)):
        s = settings.replace(topic_prefix=f"{settings.topic_prefix}{name}.",
                             redis_prefix=f"{settings.redis_prefix}{name}:",
                             app_id=f"{settings.app_id}-{name}", batch_size=50,
                             river_weight=0.0)
        await ensure_topics(s)
        async with RedisStore(s.redis_url, s.redis_prefix) as store, Producer(s) as producer:
            worker = start_worker(s)
            try:
                await load_catalog(store, producer)
                await send_log(producer, log)
                rng = random.Random(1234)
                at = sorted(rng.uniform(0.05, 0.9) * N for _ in range(kills))
                recover = []
                for threshold in at:
                    while True:
                        m, _, _ = await store.read_metrics()
                        if m.get("events_total", 0) + m.get("dlq_total", 0) >= threshold:
                            break
                        await asyncio.sleep(0.02)
                    worker.kill()                       # SIGKILL: no clean-up at all
                    worker.wait(10)
                    killed_at = time.monotonic()
                    before = m.get("events_total", 0) + m.get("dlq_total", 0)
                    worker = start_worker(s)
                    while True:                         # time until it applies again
                        m, _, _ = await store.read_metrics()
                        now = m.get("events_total", 0) + m.get("dlq_total", 0)
                        if now > before or now >= N:
                            break
                        assert worker.poll() is None, "restarted worker exited"
                        await asyncio.sleep(0.05)
                    recover.append(time.monotonic() - killed_at)
                m = await counted(store, N)
                runs[name] = await shared_state(store)
                report[name] = {"recover_s": [round(r, 1) for r in recover],
                                "events": m["events_total"], "dlq": m["dlq_total"]}
            finally:
                stop_worker(worker)
    print(f"kill -9 report: {report}")
    assert runs["calm"]["events"] == good and runs["calm"]["dlq"] == bad
    assert_same_state(runs["killed"], runs["calm"])
    assert len(runs["killed"]["users"]) == 40
