"""Broker faults with the worker running: a 20 s stall (SIGSTOP), then a restart that
loses every topic (Tansu keeps them in memory). The worker survives the stall; after the
restart it must not stay up doing nothing: it applies the new events, or exits non-zero
for its supervisor (here, the test) to restart it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import TansuBroker
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

STALL_S = 20.0


async def test_worker_survives_a_broker_stall_and_a_restart(redis_server, calm_state):
    log, _, _ = event_log(N, SEED)
    third = N // 3
    restarts = 0
    with TansuBroker() as broker:
        s = fault_settings(broker.bootstrap, redis_server.url, outage_wait_s=15.0)
        await ensure_topics(s)
        worker = start_worker(s)
        try:
            async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
                async with Producer(s) as producer:
                    await load_catalog(store, producer)
                    await send_log(producer, log[:third])
                await counted(store, third)
                os.kill(broker.proc.pid, signal.SIGSTOP)
                stalled = time.monotonic()
                try:
                    while time.monotonic() - stalled < STALL_S:   # the stall's length
                        assert worker.poll() is None, "worker exited during the stall"
                        await asyncio.sleep(1.0)
                finally:
                    os.kill(broker.proc.pid, signal.SIGCONT)
                async with Producer(s) as producer:
                    await send_log(producer, log[third: 2 * third])
                await counted(store, 2 * third, timeout=120)
                broker.restart()                  # every topic and offset is gone
                restarted = time.monotonic()
                await ensure_topics(s)
                async with Producer(s) as producer:   # the catalog is in Redis already
                    await send_log(producer, log[2 * third:])

                async def applied_or_restarted():
                    nonlocal worker, restarts
                    if worker.poll() is not None:   # exited: a supervisor restarts it
                        assert worker.returncode != 0
                        restarts += 1
                        worker = start_worker(s)
                    m, _, _ = await store.read_metrics()
                    return m.get("events_total", 0) + m.get("dlq_total", 0) >= N
                from tests.conftest import eventually
                await eventually(applied_or_restarted, 180, 0.5)
                recovered = time.monotonic() - restarted
                got = await shared_state(store)
        finally:
            stop_worker(worker)
    print(f"broker stall {STALL_S:.0f} s survived; after the restart all applied in "
          f"{recovered:.1f} s ({restarts} worker restarts)")
    assert_same_state(got, calm_state)
