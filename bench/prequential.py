"""Prequential hit rate of each ranking component over a movielens-small replay.

The real batch processor (the code the Faust worker runs) processes the events in time
order, in batches, against a real redis-server; before each batch, every view is judged
against the top-K list its user held in Redis just before (lists exclude items the user
already interacted with; users without a list yet are not judged; the same rule for every
configuration). One configuration at a time, each with its own Redis keys:

* trending, covisit, blend (co-visitation + trending + River snapshot re-ranking),
* mf, ctr: the River model alone, re-ranking the blend's top-50 candidates,

with a River learner trained by the processor after judging each event (test, then
train). Batches are cut into runs without a repeated user (``prequential_exact``), so the
batch size changes speed, not results. Content candidates are off (they need the scorer's
text encoder). ``streamrec evaluate`` does the same through the broker and real workers.

Other settings come from the environment, as for the worker, e.g.
``STREAMREC_LEARNED_RANKER=0`` for the blend without the learned re-ranker.

Run: ``python -m streamrec.bench.prequential [--users 0] [--k 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson

from streamrec.models.online_learner import OnlineLearner
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.embedded import RedisServer
from streamrec.streams.models_bridge import catalog_changes
from streamrec.streams.processor import Message, Processor
from streamrec.streams.settings import Settings


async def _sink(*args: object) -> None:
    pass


async def run_config(name: str, redis_url: str, events, catalog, k: int, batch: int) -> dict:
    s = Settings.from_env(None, redis_url=redis_url, redis_prefix=f"{name}:", k=k,
                          ranking="blend" if name.startswith("blend") else name,
                          content_weight=0.0, river_weight=None if name == "blend" else 0.0,
                          prequential_exact=True, candidate_cache_ms=0)
    learner = OnlineLearner(seed=0) if name in ("blend", "mf", "ctr") else None
    if learner is not None:
        for c in catalog:
            learner.catalog_change(c)
    async with RedisStore(redis_url, s.redis_prefix) as store:
        await store.apply_catalog(catalog)
        proc = Processor(s, store, MemoryUsers(), _sink, river=learner)
        t0 = time.perf_counter()
        for start in range(0, len(events), batch):
            chunk = events[start:start + batch]
            msgs = [Message(s.topic(f"events.{kind}"), 0, start + n, e["user_id"].encode(),
                            orjson.dumps(e), 0.0) for n, (kind, e) in enumerate(chunk)]
            await proc.process_events(msgs)   # judges, then trains the learner
        m, _, _ = await store.read_metrics()
    return {"config": name, "hr": m.get("preq_hits", 0) / max(m.get("preq_judged", 1), 1),
            "judged": int(m.get("preq_judged", 0)),
            "ild": m.get("ild_sum", 0) / max(m.get("ild_count", 1), 1),
            "coverage": m["served_items"] / max(m["catalog_items"], 1),
            "seconds": time.perf_counter() - t0}


async def main(args: argparse.Namespace) -> None:
    data = Settings.from_env(data_dir=args.data_dir).resolved_data_dir()
    events = list(events_from_ratings(read_ratings(data, args.users)))
    catalog = catalog_changes(read_catalog(data))
    rows = []
    with RedisServer() as redis:
        for name in args.configs:
            r = await run_config(name, redis.url, events, catalog, args.k, args.batch)
            rows.append(r)
            print(f"  {name}: HR@{args.k} {r['hr']:.4f} over {r['judged']} views, "
                  f"{r['seconds']:.0f}s", flush=True)
    n_views = sum(1 for kind, _ in events if kind == "view")
    print(f"\nprequential HR@{args.k}: {n_views} views of {args.users or 'all'} users of "
          f"movielens-small (default mapping), batches of {args.batch} events")
    print(f"| {'configuration':<13} | {'HR@' + str(args.k):>7} | {'judged':>7} | "
          f"{'intra-list div.':>15} | {'coverage':>8} |")
    print(f"|{'-' * 15}|{'-' * 9}|{'-' * 9}|{'-' * 17}|{'-' * 10}|")
    for r in rows:
        print(f"| {r['config']:<13} | {r['hr']:>7.4f} | {r['judged']:>7} | {r['ild']:>15.3f} | "
              f"{r['coverage']:>8.3f} |")


def cli(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=0, help="first N users (0 = all)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--configs", nargs="+",
                    default=["trending", "covisit", "mf", "ctr", "blend"])
    ap.add_argument("--data-dir", default=None)
    asyncio.run(main(ap.parse_args(argv)))


if __name__ == "__main__":
    cli()
