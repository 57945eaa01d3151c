"""The pipeline benchmark's latency probe over a real broker, redis-server and the worker,
the no-op Faust agent or the no-op aiokafka consumer (the floors it is compared with): it
runs, skips its warm-up and gives every measured event a latency (no timing asserted)."""

from __future__ import annotations

import pytest

from streamrec.bench.pipeline import latency
from streamrec.streams.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.models_bridge import catalog_changes

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
