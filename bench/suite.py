"""``streamrec bench``: the pipeline and the API measured side by side in one run.

One embedded Tansu broker and redis-server (fresh topics and keys per phase), movielens
events (default mapping):

1. throughput: the same events pre-loaded; a no-op Faust agent, a no-op plain aiokafka
   consumer, the worker, and the worker with a River snapshot each consume them all
   (``bench/pipeline.py``);
2. latency: the worker running, events produced at each offered load (events/s; ``max``
   = unpaced), latency from produced to ``rec:{user}`` rewritten in Redis (observed by
   keyspace notifications), p50/p95/p99; then the same load through the no-op Faust
   agent and through the no-op aiokafka consumer (the worker's own kind of consumer),
   each writing a stand-in list per user per batch: the floors that the consumer, the
   broker, Redis and the load generator set on this machine;
3. API: ``streamrec api`` (also with ``explain=1``, and with ``--api-cache``: lists kept
   until Redis pushes a change) and, as the baseline, a bare aiohttp handler doing one Redis
   GET with redis-py, and as the ceiling, aiohttp answering a constant list
   (``bench/bare_api.py``), each a separate process serving the lists the worker
   wrote; closed loop for requests/s, open loop at fixed rates for latency.

Everything shares the machine's cores with the load generators; the report says how many.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from streamrec.bench import wrk
from streamrec.bench.api_load import LoadResult, closed_loop, open_loop
from streamrec.bench.pipeline import latency, throughput
from streamrec.streams.dev.demo import stop_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker, _die_with_parent, free_port
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.tools.report import Report

CONSUMERS = ("worker", "no-op", "no-op aiokafka")   # the latency phase's, in order


def parse_rates(values: list[str]) -> list[float]:
    """Offered loads from the command line; ``max`` = 0 (unpaced).

    >>> parse_rates(["500", "2000", "max"])
    [500.0, 2000.0, 0.0]
    """
    return [0.0 if v == "max" else float(v) for v in values]


async def _start_server(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/health") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{' '.join(cmd)} did not answer on port {port}")


async def api_bench(redis_url: str, prefix: str, users: list[str], seconds: float,
                    rates: list[float], connections: int
                    ) -> dict[str, list[LoadResult | wrk.WrkResult]]:
    """Closed loop, then open loop at each rate, against aiohttp alone (a constant
    answer: the ceiling), the bare handler doing one redis-py GET (the baseline) and our
    API, without and with explanations; then, where ``wrk`` is installed, its closed
    loop. All servers run side by side and each load goes to them in turn, the order
    reversed from one load to the next, so that a drift of the machine during the run
    does not fall on whichever server is measured last."""
    bare = [sys.executable, "-m", "streamrec.bench.bare_api"]
    api = [sys.executable, "-m", "streamrec.streams.cli", "api", "--api-port"]
    servers = {     # name: (command, added to each query)
        "aiohttp, no Redis": (lambda port: [*bare, str(port), "--no-redis"], ""),
        "bare aiohttp + 1 GET": (lambda port: [*bare, str(port)], ""),
        "streamrec api": (lambda port: [*api, str(port)], ""),
        "streamrec api, explain=1": (lambda port: [*api, str(port)], "&explain=1"),
        "streamrec api, cached lists": (lambda port: [*api, str(port), "--api-cache"], ""),
    }
    env = {**os.environ, "STREAMREC_REDIS_URL": redis_url, "STREAMREC_REDIS_PREFIX": prefix}
    ports = {name: free_port() for name in servers}
    procs = []
    try:
        for name, (cmd, _) in servers.items():
            procs.append(await _start_server(cmd(ports[name]), env, ports[name]))
        loads = [lambda port, extra: closed_loop("127.0.0.1", port, users, seconds,
                                                 connections, extra=extra)]
        loads += [functools.partial(_open, users=users, rate=r, seconds=seconds) for r in rates]
        if wrk.available():
            loads.append(lambda port, extra: asyncio.to_thread(
                wrk.run, "127.0.0.1", port, users, seconds, connections, extra=extra))
        for name in servers:                                                   # warm-up
            await closed_loop("127.0.0.1", ports[name], users, 1.0, connections)
        out: dict[str, list[LoadResult | wrk.WrkResult]] = {name: [] for name in servers}
        for n, load in enumerate(loads):
            for name in (list(servers) if n % 2 == 0 else list(reversed(servers))):
                out[name].append(await load(ports[name], servers[name][1]))
        return out
    finally:
        for proc in procs:
            stop_worker(proc)


def _open(port: int, extra: str, *, users: list[str], rate: float, seconds: float):
    return open_loop("127.0.0.1", port, users, rate, seconds, extra=extra)


async def run_bench(settings: Settings, users: int, rates: list[float], seconds: float,
                    partitions: int, api_seconds: float, api_rates: list[float],
                    api_connections: int) -> tuple[Report, dict[str, Any]]:
    t0 = time.monotonic()
    data = settings.resolved_data_dir()
    ratings = read_ratings(data, users)
    events = list(events_from_ratings(ratings))
    catalog = catalog_changes(read_catalog(data))
    user_ids = sorted({r[0] for r in ratings}, key=int)
    with TansuBroker() as broker, RedisServer() as redis:
        print(f"throughput: {len(events):,} events, no-op Faust agent / no-op aiokafka "
              "consumer / worker / worker + River",
              flush=True)
        tp, prefix = await throughput(broker, redis, events, catalog, partitions)
        lat = []
        for rate in rates:
            for consumer in CONSUMERS:
                print(f"latency at {rate or 'max'} events/s, {consumer} ...", flush=True)
                x = await latency(broker, redis, events, catalog, rate, seconds, partitions,
                                  noop=consumer != "worker", raw=consumer == "no-op aiokafka")
                lat.append({**x, "rate": rate, "consumer": consumer})
        print(f"API: closed loop and {api_rates} requests/s ...", flush=True)
        api = await api_bench(redis.url, prefix, user_ids, api_seconds, api_rates,
                              api_connections)
    return build_report(tp, lat, api, len(events), users, partitions, api_connections,
                        time.monotonic() - t0)


def build_report(tp: dict[str, float], lat: list[dict[str, Any]],
                 api: dict[str, list[LoadResult]], n_events: int, users: int, partitions: int,
                 api_connections: int, elapsed_s: float) -> tuple[Report, dict[str, Any]]:
    """``lat``: one dict per (offered rate, consumer) from :func:`latency`, with ``rate``
    (0 = max) and ``consumer`` (one of :data:`CONSUMERS`) added."""
    r = Report("streamrec bench: pipeline and API")
    cores = os.cpu_count()
    r.para(f"Run {dt.datetime.now().isoformat(timespec='seconds')}, {cores} cores, "
           f"{elapsed_s:.0f} s. Embedded Tansu broker + redis-server, {partitions} partitions, "
           f"one worker process. Data: movielens-small, {n_events:,} events of "
           f"{users or 'all'} users (default mapping). Load generators run on the same cores.")
    base = tp["no-op Faust agent"]
    r.table("throughput: the same pre-loaded events consumed by each",
            ["consumer", "events/s", "vs no-op"],
            [[n, v, f"{v / base:.0%}"] for n, v in tp.items()])
    r.table("latency: event produced -> rec:{user} rewritten in Redis (ms); each paced load "
            "first runs 2 s unmeasured (warm-up), then the measured seconds; 'no-op' = the "
            "no-op Faust agent, 'no-op aiokafka' = a no-op plain aiokafka consumer (the "
            "worker's own consumer), each writing a stand-in list per user per batch (the "
            "floors)",
            ["offered ev/s", "consumer", "achieved ev/s", "events", "p50", "p95", "p99", "max"],
            [["max" if x["rate"] == 0 else x["rate"], x["consumer"], x["offered"], x["n"],
              x["p50"], x["p95"], x["p99"], x["max"]] for x in lat])
    worker_lat = [x for x in lat if x["consumer"] == "worker"]
    rows = []
    for name, runs in api.items():
        for x in runs:
            if isinstance(x, wrk.WrkResult):
                rows.append([name, x.mode, "wrk", x.requests_per_s, x.p50_ms, x.p99_ms,
                             x.errors, ""])
            else:
                rows.append([name, "closed loop" if x.mode == "closed"
                             else f"{x.offered:,.0f} req/s", "python", x.requests_per_s,
                             x.pct(0.5), x.pct(0.99), x.errors,
                             x.summary()["late_p99_ms"] if x.mode == "open" else ""])
    r.table(f"API: GET /recommendations/{{user}}?k=20 ({api_connections} connections in the "
            "closed loop; open loop latency from the scheduled send time, and how late the "
            "generator sent (its p99, included in the latency); 'wrk' rows: the C load "
            "generator wrk, when installed)",
            ["server", "load", "client", "req/s", "p50 ms", "p99 ms", "errors",
             "sent late p99 ms"], rows)

    r.plot("throughput", "Events/s of each consumer on the same pre-loaded topic",
           functools.partial(_bars, tp))
    r.plot("latency_vs_load", "Event-to-list latency percentiles by offered load "
           "(dotted: the no-op Faust agent; dashed: the no-op aiokafka consumer)",
           functools.partial(_pcts, lat))
    r.plot("latency_histogram", "The worker's event-to-list latency distribution per offered "
           "load", functools.partial(_hist, worker_lat))
    r.plot("api_latency", "API latency at fixed request rates", functools.partial(_api_plot, api))
    raw = {"cores": cores, "elapsed_s": elapsed_s, "events": n_events, "users": users,
           "partitions": partitions, "throughput_events_per_s": tp,
           "latency": [{k: v for k, v in x.items() if k != "latencies_ms"} for x in lat],
           "api": {n: [x.summary() for x in runs] for n, runs in api.items()}}
    return r, raw


def _bars(tp: dict[str, float], ax: Any) -> None:
    ax.bar(list(tp), list(tp.values()),
           color=["grey", "silver", "tab:blue", "tab:green"][:len(tp)])
    ax.set_yscale("log")
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel("events/s (log)")
    ax.grid(axis="y", alpha=0.3)


def _pcts(lat: list[dict[str, Any]], ax: Any) -> None:
    for consumer, style in zip(CONSUMERS, ("-", ":", "--"), strict=True):
        xs = [x for x in lat if x["consumer"] == consumer]
        for p, color in (("p50", "tab:blue"), ("p95", "tab:orange"), ("p99", "tab:red")):
            ax.plot([x["offered"] for x in xs], [x[p] for x in xs], style, marker="o",
                    color=color, label=f"{consumer} {p}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("achieved offered load (events/s)")
    ax.set_ylabel("ms, event -> list in Redis")
    ax.legend()
    ax.grid(alpha=0.3, which="both")


def _hist(worker_lat: list[dict[str, Any]], ax: Any) -> None:
    import numpy as np
    bins = np.logspace(0, 5, 60)
    for x in worker_lat:
        if x["latencies_ms"]:
            rate = x["rate"]
            ax.hist(x["latencies_ms"], bins=bins, histtype="step",
                    label=f"{'max' if rate == 0 else f'{rate:,.0f}'} ev/s")
    ax.set_xscale("log")
    ax.set_xlabel("ms, event -> list in Redis")
    ax.set_ylabel("events")
    ax.legend()


def _api_plot(api: dict[str, list[Any]], ax: Any) -> None:
    import numpy as np
    bins = np.logspace(-1, 3, 60)
    for name, runs in api.items():
        for x in runs[1:]:
            if isinstance(x, wrk.WrkResult):
                continue
            ax.hist(x.latencies_ms, bins=bins, histtype="step",
                    label=f"{name} @ {x.offered:,.0f} req/s")
    ax.set_xscale("log")
    ax.set_xlabel("ms per request")
    ax.legend()


async def bench(settings: Settings, out: Path, users: int, rates: list[float], seconds: float,
                partitions: int, api_seconds: float, api_rates: list[float],
                api_connections: int) -> Path:
    report, raw = await run_bench(settings, users, rates, seconds, partitions, api_seconds,
                                  api_rates, api_connections)
    print("\n" + report.tables_text(), flush=True)
    path = report.save(out, raw)
    print(f"\nreport: {path}", flush=True)
    return path
