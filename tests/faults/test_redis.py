"""Redis outages with the worker running: a 30 s stall (SIGSTOP) and a kill -9 + restart
from the append-only file. The worker waits them out and ends in the calm run's state."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import RedisServer
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

STALL_S = 30.0


async def test_worker_waits_out_a_redis_stall_and_a_restart(broker, calm_state):
    log, _, _ = event_log(N, SEED)
    third = N // 3
    with RedisServer() as redis:
        s = fault_settings(broker.bootstrap, redis.url, outage_wait_s=120.0)
        await ensure_topics(s)
        worker = start_worker(s)
        try:
            async with Producer(s) as producer:
                async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
                    await load_catalog(store, producer)
                    await send_log(producer, log[:third])
                    await counted(store, third)
                # 1. Redis stops answering for 30 s while a third of the events arrives
                os.kill(redis.proc.pid, signal.SIGSTOP)
                stalled = time.monotonic()
                try:
                    await send_log(producer, log[third: 2 * third])
                    while time.monotonic() - stalled < STALL_S:   # the stall's length
                        assert worker.poll() is None, "worker exited during the stall"
                        await asyncio.sleep(1.0)
                finally:
                    os.kill(redis.proc.pid, signal.SIGCONT)
                async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
                    await counted(store, 2 * third, timeout=120)
                    stall_recovered = time.monotonic() - stalled - STALL_S
                # 2. Redis is killed and restarts from its append-only file
                redis.restart(kill=True)
                await send_log(producer, log[2 * third:])
                async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
                    await counted(store, N, timeout=120)
                    got = await shared_state(store)
            assert worker.poll() is None
        finally:
            stop_worker(worker)
    print(f"Redis stall of {STALL_S:.0f} s: all applied {stall_recovered:.1f} s after it ended")
    assert_same_state(got, calm_state)
