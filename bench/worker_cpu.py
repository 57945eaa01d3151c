"""The worker's cost per event without Kafka: its ``Processor`` on a real redis-server.

``streamrec bench`` measures the worker through the broker, where the broker, Redis and
the load generator share the cores with it. This runs the same ``Processor`` (the same
stores, the same three phases) on movielens events cut into batches as ``getmany``
hands them over, and reports wall and CPU time per event, so that a change to the
worker's Python is measured apart from the machine's other tenants; ``--profile``
writes a cProfile of the batches (``python -m pstats``)::

    python -m streamrec.bench.worker_cpu --users 200 --batch 1000
    python -m streamrec.bench.worker_cpu --profile /tmp/worker.prof
    python -m streamrec.bench.worker_cpu --cluster 3     # on Redis Cluster, per node
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import secrets
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from streamrec.state.users import RedisUsers
from streamrec.streams.dev.embedded import RedisClusterServer, RedisServer
from streamrec.streams.messages import Message
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.worker.processor import Processor


def messages(events: list[tuple[str, dict[str, Any]]], partitions: int) -> list[Message]:
    """The events as the worker's consumer sees them: topic ``events.<kind>``, partition
    by user (crc32, like a keyed producer's fixed choice), offsets counted per partition.

    >>> [(m.topic, m.partition, m.offset) for m in messages(
    ...     [("view", {"user_id": "1", "ts": 1.0}), ("view", {"user_id": "1", "ts": 2.0})], 4)]
    [('events.view', 3, 0), ('events.view', 3, 1)]
    """
    nxt: dict[tuple[str, int], int] = {}
    out = []
    for kind, ev in events:
        topic = f"events.{kind}"
        part = zlib.crc32(ev["user_id"].encode()) % partitions
        off = nxt.get((topic, part), 0)
        nxt[(topic, part)] = off + 1
        out.append(Message(topic, part, off, ev["user_id"].encode(), orjson.dumps(ev),
                           float(ev["ts"])))
    return out


async def _sink(topic: str, key: bytes | None, value: bytes) -> None:
    return None


async def run(msgs: list[Message], catalog: list[Any], batch: int, settings: Settings,
              profile: cProfile.Profile | None = None, nodes: Sequence[str] = ()
              ) -> dict[str, Any]:
    """Apply ``msgs`` in batches of ``batch`` to the store ``settings`` name: wall and CPU
    seconds of the batches, their wall-time quantiles, garbage-collection pauses and each
    redis-server's commandstats (``nodes``: their URLs; default the store's)."""
    async with settings.open_store(half_life_s=settings.ranking.half_life_s,
                                   covisit_cap=settings.ranking.covisit_cap) as store:
        await store.apply_catalog(catalog)
        p = Processor(settings, store, RedisUsers(store), _sink, "cpu")
        gc.collect()
        gc.freeze()        # as the worker does once started (streams/worker/app.py)
        pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        started = [0.0]

        def timed(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses[info["generation"]].append(time.perf_counter() - started[0])
        gc.callbacks.append(timed)
        wall = cpu = 0.0
        n = 0
        batches: list[float] = []
        for start in range(0, len(msgs), batch):
            chunk = msgs[start:start + batch]
            t0, c0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            n += await p.process_events(chunk)
            if profile is not None:
                profile.disable()
            batches.append(time.perf_counter() - t0)
            wall += batches[-1]
            cpu += time.process_time() - c0
        gc.callbacks.remove(timed)
    stats = [_commandstats(url) for url in (nodes or [settings.redis.redis_url])]
    batches.sort()
    return {"events": n, "wall_s": wall, "cpu_s": cpu,
            "batch_ms": {q: 1e3 * batches[min(len(batches) - 1, int(q * len(batches)))]
                         for q in (0.5, 0.99, 1.0)},
            "gc": {g: (len(v), 1e3 * sum(v), 1e3 * max(v, default=0.0))
                   for g, v in pauses.items()},
            "redis": {k.removeprefix("cmdstat_"): (v["calls"], v["usec"])
                      for k, v in stats[0].items()} if len(stats) == 1 else {},
            "nodes": [(url, st, _holds(url, store.key("wm")))
                      for url, st in zip(nodes, stats, strict=True)] if nodes else []}


def _commandstats(url: str) -> dict[str, Any]:
    r = redis.Redis.from_url(url)
    try:
        return r.info("commandstats")
    finally:
        r.close()


def _holds(url: str, key: str) -> bool:
    """Whether the node at ``url`` serves ``key``'s slot (another answers MOVED)."""
    r = redis.Redis.from_url(url)
    try:
        r.exists(key)
        return True
    except redis.ResponseError:
        return False
    finally:
        r.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000, help="events per batch")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--data-dir", default="../shared/data/movielens-small")
    ap.add_argument("--profile", default="", help="write a cProfile of the batches here")
    ap.add_argument("--cluster", type=int, default=0, metavar="MASTERS",
                    help="run on an embedded Redis Cluster of this many masters")
    a = ap.parse_args(argv)
    data = Path(a.data_dir)
    events = list(events_from_ratings(read_ratings(data, a.users)))
    msgs = messages(events, a.partitions)
    catalog = catalog_changes(read_catalog(data))
    server = RedisClusterServer(a.cluster) if a.cluster else RedisServer()
    server.start()
    try:
        settings = Settings.from_env({}, redis_url=server.url, redis_prefix="cpu:",
                                     redis_cluster=bool(a.cluster),
                                     snapshot_key=secrets.token_hex(32))
        prof = cProfile.Profile() if a.profile else None
        nodes = ([f"redis://:{server.password}@{h}:{p}" for h, p in server.nodes]
                 if a.cluster else [])
        r = asyncio.run(run(msgs, catalog, a.batch, settings, prof, nodes))
        if prof is not None:
            prof.dump_stats(a.profile)
    finally:
        server.stop()
    n = max(r["events"], 1)
    print(f"{r['events']:,} events in batches of {a.batch}: {n / r['wall_s']:,.0f} events/s, "
          f"{1e6 * r['wall_s'] / n:.1f} us wall and {1e6 * r['cpu_s'] / n:.1f} us CPU "
          "per event (this process; redis-server apart)")
    print("batch wall ms: " + ", ".join(f"p{100 * q:g} {ms:.1f}"
                                        for q, ms in r["batch_ms"].items()))
    print("garbage collections: " + ", ".join(
        f"gen{g} {n} ({ms:.0f} ms, longest {top:.1f})" for g, (n, ms, top) in r["gc"].items()))
    for url, st, glob in r["nodes"]:
        top = sorted(st.items(), key=lambda kv: -kv[1]["usec"])[:3]
        print(f"node {url.rsplit(':', 1)[1]}: {sum(v['usec'] for v in st.values()) / n:.1f} "
              "us per event in commands" + (" (holds the global slot)" if glob else "")
              + "; " + ", ".join(f"{k.removeprefix('cmdstat_')} {v['usec'] / n:.1f}"
                                 for k, v in top))
    busy = sorted(r["redis"].items(), key=lambda kv: -kv[1][1])
    total = sum(us for _, us in r["redis"].values())
    if busy:
        print(f"redis-server: {total / n:.1f} us per event in commands; the most:")
    for cmd, (calls, us) in busy[:8]:
        print(f"  {cmd:<14} {calls:>9,} calls {us / 1e6:7.2f} s  {us / n:6.1f} us/event")


if __name__ == "__main__":
    main()
