"""The pipeline benchmark's latency probe over a real broker, redis-server and the worker,
the no-op Faust agent or the no-op aiokafka consumer (the floors it is compared with): it
runs, skips its warm-up and gives every measured event a latency (no timing asserted)."""

from __future__ import annotations

import pytest

from streamrec.bench.pipeline import latency
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes
from tests.conftest import stored_list

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("noop", "raw"), [(False, False), (True, False), (True, True)],
                         ids=["worker", "no-op agent", "no-op aiokafka"])
async def test_latency_probe_measures_each_event_after_the_warm_up(broker, redis_server,
                                                                   data_dir, noop, raw):
    events = list(events_from_ratings(read_ratings(data_dir, 5)))[:400]
    catalog = catalog_changes(read_catalog(data_dir))
    x = await latency(broker, redis_server, events, catalog, rate=200.0, seconds=1.0,
                      partitions=1, warmup_s=0.5, noop=noop, raw=raw)
    # 100 warm-up events (0.5 s at 200/s) are sent but not measured; the next 200 are
    assert x["n"] == 200
    lat = x["latencies_ms"]
    assert lat == sorted(lat) and lat[0] > 0
    assert x["p50"] <= x["p95"] <= x["p99"] <= x["max"] == lat[-1]


async def test_api_bench_runs_each_server_and_every_request_succeeds(redis_server, names):
    """The API phase: aiohttp alone, the bare redis-py handler and ``streamrec api`` (also
    with ``explain=1``, and with cached lists), each a process of its own, answer every
    request of the closed and the open loop with 200."""
    import time

    from streamrec.bench.suite import api_bench
    from streamrec.state.redis_store import RedisStore

    users = [f"u{i}" for i in range(5)]
    async with RedisStore(redis_server.url, f"{names}:") as store:
        await store.write_recs({u: stored_list(u, "a", time.time()) for u in users})
    out = await api_bench(redis_server.url, f"{names}:", users, 0.5, [100.0], 4)
    assert list(out) == ["aiohttp, no Redis", "bare aiohttp + 1 GET", "streamrec api",
                         "streamrec api, explain=1", "streamrec api, cached lists"]
    for name, runs in out.items():
        closed, paced = runs[0], runs[1]
        assert closed.errors == 0 and len(closed.latencies_ms) > 10, name
        assert paced.errors == 0 and len(paced.latencies_ms) == len(paced.late_ms) == 50, name
        summary = paced.summary()
        assert summary["p99_ms"] >= summary["p50_ms"] > 0 and summary["late_p99_ms"] >= 0


async def test_redis_client_bench_measures_each_installed_client(redis_server):
    """``bench/redis_clients.py``: every client answers the API's read pair; those not
    installed are named, not counted."""
    from streamrec.bench.redis_clients import run
    got = await run(redis_server.url, 0.2, 4)
    assert got["resp.py (the API's)"] > 0 and got["redis-py"] > 0
    assert all(isinstance(v, float) and v > 0 or "not installed" in v for v in got.values())
