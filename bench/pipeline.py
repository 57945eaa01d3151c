"""Pipeline benchmark: streamrec worker vs a no-op Faust agent, and end-to-end latency.

One run, embedded Tansu broker + redis-server, movielens-small events (default mapping):

1. throughput: the same N events are pre-loaded into the topics; a no-op Faust agent
   (``bench/noop_app.py``), a no-op aiokafka consumer (``bench/raw_noop.py``) and the
   full worker each consume them from the start in their own consumer group;
   events/s = N / (time of last - time of first processed).
2. latency: with the worker running, events are produced at an offered rate; an
   observer subscribed to Redis keyspace notifications records when ``rec:{user}`` is
   rewritten and reads the list's ``event_ts``; latency = rewrite time - send time of
   each event the list includes. p50/p99 over all events.

Run: ``python -m streamrec.bench.pipeline [--users 200] [--rate 1000 --seconds 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import defaultdict, deque
from typing import Any

import orjson
import redis.asyncio as aioredis

from streamrec.bench.common import warm_up
from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker, _die_with_parent
from streamrec.streams.learner import Learner
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.tools.replay import Producer, replay_events
from streamrec.streams.topics import ensure_topics


def _settings(broker: TansuBroker, redis: RedisServer, **kw) -> Settings:
    n = "b" + uuid.uuid4().hex[:8]
    return Settings.from_env({}, broker=broker.bootstrap, redis_url=redis.url,
                             topic_prefix=f"{n}.", redis_prefix=f"{n}:", app_id=n,
                             snapshot_key=secrets.token_hex(32), **kw)


def start_noop(s: Settings, lists: bool = False, raw: bool = False) -> subprocess.Popen:
    """The no-op Faust agent (``bench/noop_app.py``), or with ``raw`` the no-op plain
    aiokafka consumer (``bench/raw_noop.py``), as a child process; ``lists``: it also
    writes a stand-in ``rec:{user}`` per batch (for the latency phase)."""
    env = {**os.environ, **s.to_env(), "STREAMREC_NOOP_LISTS": "1" if lists else "0"}
    cmd = (["-m", "streamrec.bench.raw_noop"] if raw else
           ["-m", "streamrec.bench.noop_app", "worker", "--without-web", "--loglevel", "warn"])
    return subprocess.Popen([sys.executable, *cmd], env=env,
                            preexec_fn=_die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_count(read, n: int, timeout: float) -> tuple[float, float]:
    """Poll ``read()`` until it reaches n; returns (time first > 0, time reached n)."""
    t_first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = await read()
        now = time.monotonic()
        if c > 0 and t_first is None:
            t_first = now
        if c >= n:
            return t_first or now, now
        await asyncio.sleep(0.02)
    raise TimeoutError(f"only {await read()} of {n} events processed in {timeout}s")


async def throughput(broker, redis, events, catalog, partitions: int
                     ) -> tuple[dict[str, float], str]:
    """Events/s of the no-op agent, the worker, the worker with a River snapshot; and the
    Redis prefix under which the last worker left every user's list."""
    s = _settings(broker, redis, partitions=partitions)
    await ensure_topics(s)
    async with Producer(s) as p:
        await replay_events(p, events, 0)
    n = len(events)
    out = {}
    r = aioredis.Redis.from_url(s.redis.redis_url)
    # baselines: the no-op Faust agent, and a no-op plain aiokafka consumer
    for label, raw in (("no-op Faust agent", False), ("no-op aiokafka consumer", True)):
        s1 = s.replace(app_id=f"{s.kafka.app_id}{int(raw)}",
                       redis_prefix=f"{s.redis.redis_prefix}{int(raw)}:")
        noop = start_noop(s1, raw=raw)
        try:
            async def noop_count(s1=s1) -> int:
                return int(await r.get(s1.redis.redis_prefix + "noop:count") or 0)
            t0, t1 = await _wait_count(noop_count, n, 600)
            out[label] = n / max(t1 - t0, 1e-9)
        finally:
            stop_worker(noop)
    # the full worker, without and with a River snapshot (learned first, in-process, so
    # that the learner's CPU is not charged to the worker); catalog loaded into Redis first
    for label, models in (("streamrec worker", False), ("worker + River snapshot", True)):
        tag = uuid.uuid4().hex[:6]
        s2 = s.replace(app_id=f"{s.kafka.app_id}{tag}",
                       redis_prefix=f"{s.redis.redis_prefix}{tag}:",
                       river_weight=0.3 if models else 0.0)
        async with RedisStore(s2.redis.redis_url, s2.redis.redis_prefix) as store:
            await store.apply_catalog(catalog)
            if models:
                await Learner(s2, snapshot_every=10**9).run(until_idle_s=2.0)
            w = start_worker(s2)
            try:
                async def worker_count(store=store) -> int:
                    m, _, _ = await store.read_metrics()
                    return int(m.get("events_total", 0))
                t0, t1 = await _wait_count(worker_count, n, 600)
                out[label] = n / max(t1 - t0, 1e-9)
            finally:
                stop_worker(w)
    await r.aclose()
    return out, s2.redis.redis_prefix


async def latency(broker, redis, events, catalog, rate: float, seconds: float,
                  partitions: int, max_events: int = 20000, warmup_s: float = 2.0,
                  noop: bool = False, raw: bool = False) -> dict[str, Any]:
    """Event-produced -> list-rewritten latency at an offered ``rate`` (0 = as fast as the
    producer can: ``max_events`` events, unpaced). Returns percentiles and the raw list.
    ``noop``: measure the no-op Faust agent writing a stand-in list per user per batch
    instead of the worker (the floor Faust, the broker and Redis set on this machine);
    with ``raw`` too, the no-op plain aiokafka consumer (the floor without Faust).

    A paced load first runs ``warmup_s`` seconds unmeasured (the worker's caches of
    catalog entries and candidates fill in that time: its first second at 2,000 events/s
    ran up to ~170 ms behind), then ``seconds`` measured."""
    s = _settings(broker, redis, partitions=partitions)
    await ensure_topics(s)
    r = aioredis.Redis.from_url(s.redis.redis_url, decode_responses=True)
    await r.config_set("notify-keyspace-events", "K$")
    pubsub = r.pubsub()
    await pubsub.psubscribe(f"__keyspace@0__:{s.redis.redis_prefix}rec:*")
    sent: dict[str, deque[tuple[float, bool]]] = defaultdict(deque)   # (sent at, measured)
    lat: list[float] = []
    done = asyncio.Event()

    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(catalog)
        w = start_noop(s, lists=True, raw=raw) if noop else start_worker(s)
        obs = asyncio.create_task(_observe(s, pubsub, sent, lat, done))
        try:
            # the shop's producer as aiokafka makes it by default (linger 0: each event is
            # sent at once; replay's 5 ms linger suits throughput, not a latency probe)
            async with Producer(s, linger_ms=0) as p:
                await warm_up(store, p, events[0][1]["item_id"])
                offered = await _offer(p, events, sent, rate, seconds, warmup_s, max_events)
            deadline = time.monotonic() + 30
            while sum(map(len, sent.values())) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            done.set()
            await obs
            stop_worker(w)
    await pubsub.aclose()
    await r.aclose()
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    return {"offered": offered, "n": len(lat), "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "max": lat[-1] if lat else float("nan"), "latencies_ms": lat}


async def _offer(p: Producer, events: list, sent: dict[str, deque[tuple[float, bool]]],
                 rate: float, seconds: float, warmup_s: float, max_events: int) -> float:
    """Send the events at ``rate`` (0: unpaced, ``max_events``), the first ``warmup_s``
    unmeasured; returns the rate achieved over the measured part."""
    n_warm = min(len(events) // 4, int(rate * warmup_s)) if rate > 0 else 0
    n_target = min(len(events), n_warm + int(rate * seconds) if rate > 0 else max_events)
    t0 = t_measured = time.monotonic()
    for i, (kind, ev) in enumerate(events[:n_target]):
        if i == n_warm:
            t_measured = time.monotonic()
        sent[ev["user_id"]].append((time.time(), i >= n_warm))
        await p.send(f"events.{kind}", ev["user_id"], ev)
        if rate > 0 and i % 20 == 0:
            ahead = i / rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await p.flush()
    return (n_target - n_warm) / (time.monotonic() - t_measured)


async def _observe(s: Settings, pubsub: Any, sent: dict[str, deque[tuple[float, bool]]],
                   lat: list[float], done: asyncio.Event) -> None:
    """Each rewrite of ``rec:{user}`` (keyspace notifications): the latency of every sent
    event the new list includes."""
    reader = aioredis.Redis.from_url(s.redis.redis_url)
    while not done.is_set():
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if not msg:
            continue
        now = time.time()
        key = msg["channel"].split(":", 1)[1]
        user = key[len(s.redis.redis_prefix) + 4:]
        value = await reader.get(key)
        if not value:
            continue
        ev_ts = orjson.loads(value)["event_ts"]
        q = sent[user]
        while q and q[0][0] <= ev_ts + 0.002:  # events this list already includes
            at, measured = q.popleft()
            if measured:
                lat.append((now - at) * 1000.0)
    await reader.aclose()


async def main(args: argparse.Namespace) -> None:
    data = Settings.from_env(data_dir=args.data_dir).resolved_data_dir()
    events = list(events_from_ratings(read_ratings(data, args.users)))
    catalog = catalog_changes(read_catalog(data))
    with TansuBroker() as broker, RedisServer() as redis:
        tp, _ = await throughput(broker, redis, events, catalog, args.partitions)
        lat = [await latency(broker, redis, events, catalog, rate, args.seconds, args.partitions)
               for rate in args.rate]
    print(f"\nthroughput: {len(events)} movielens-small events ({args.users or 'all'} users), "
          f"{args.partitions} partitions, one worker process, {os.cpu_count()} cores")
    print(f"| {'consumer':<20} | {'events/s':>9} | {'vs no-op':>8} |")
    print(f"|{'-' * 22}|{'-' * 11}|{'-' * 10}|")
    base = tp["no-op Faust agent"]
    for name, v in tp.items():
        print(f"| {name:<20} | {v:>9,.0f} | {v / base:>7.0%} |")
    print("\nlatency: event produced -> rec:{user} rewritten in Redis (ms)")
    print(f"| {'offered ev/s':>12} | {'events':>7} | {'p50':>6} | {'p95':>6} | {'p99':>6} | "
          f"{'max':>7} |")
    print(f"|{'-' * 14}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 9}|")
    for x in lat:
        print(f"| {x['offered']:>12,.0f} | {x['n']:>7} | {x['p50']:>6.1f} | {x['p95']:>6.1f} | "
              f"{x['p99']:>6.1f} | {x['max']:>7.1f} |")


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=0, help="first N users (0 = all)")
    p.add_argument("--rate", type=float, nargs="+", default=[500.0, 2000.0],
                   help="offered loads for the latency phase (events/s)")
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per offered load")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--data-dir", default=None)
    asyncio.run(main(p.parse_args(argv)))


if __name__ == "__main__":
    cli()
