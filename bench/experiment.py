"""An experiment end to end over the demo stream: reward per variant over time.

Embedded broker + Redis + worker; a bandit experiment over the ranking variants
(trending, covisit, blend) is created through the store; movielens-small is replayed.
Click feedback is SIMULATED from the real data: before each replayed view, if the item
is in the top-K list then served to that user, the user "clicks" it (a click event with
the list's impression id as ``rec_id``). Every ``--every`` seconds the per-variant
impressions, successes, CTR and P(best) are printed.

Run: ``python -m streamrec.bench.experiment --users 200 --rate 1500``
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import uuid

import orjson

from streamrec.bench.common import warm_up
from streamrec.models.experiments import Experiment, report
from streamrec.state.redis_store import RedisStore
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.tools.replay import Producer
from streamrec.streams.topics import ensure_topics


async def run(args: argparse.Namespace) -> None:
    data = Settings.from_env(data_dir=args.data_dir).resolved_data_dir()
    events = [e for e in events_from_ratings(read_ratings(data, args.users)) if e[0] == "view"]
    with TansuBroker() as broker, RedisServer() as redis:
        n = "x" + uuid.uuid4().hex[:6]
        s = Settings.from_env({}, broker=broker.bootstrap, redis_url=redis.url, app_id=n,
                              topic_prefix=f"{n}.", k=args.k, snapshot_key=secrets.token_hex(32))
        await ensure_topics(s)
        exp = Experiment.from_dict({"name": "ranking", "variants": list(args.variants),
                                    "allocation": args.allocation})
        async with RedisStore(s.redis.redis_url) as store, Producer(s) as producer:
            await store.apply_catalog(catalog_changes(read_catalog(data)))
            await store.create_experiment(exp)
            worker = start_worker(s)
            try:
                await warm_up(store, producer, events[0][1]["item_id"])
                await _replay(args, store, producer, events, exp)
            finally:
                stop_worker(worker)


async def _replay(args, store, producer, events, exp) -> None:
    t0 = time.monotonic()
    next_print = args.every
    clicks = 0
    print(f"{len(events)} views of {args.users} users at {args.rate:g}/s; experiment "
          f"{exp.name!r} ({exp.allocation}) over {', '.join(exp.variants)}; clicks simulated")
    header = "| t (s) | events | " + " | ".join(
        f"{v}: imps / succ / CTR / P(best)" for v in exp.variants) + " |"
    print(header)
    print("|" + "|".join("-" * (len(c) + 2) for c in header.strip("|").split("|")) + "|")
    for i, (_, ev) in enumerate(events):
        raw = await store.client.get(store.key("rec:" + ev["user_id"]))
        if raw:
            rec = orjson.loads(raw)
            if ev["item_id"] in {x["item_id"] for x in rec["items"][: args.k]}:
                await producer.send("events.click", ev["user_id"], {
                    "event_id": "sim-" + ev["event_id"], "user_id": ev["user_id"],
                    "item_id": ev["item_id"], "ts": ev["ts"], "rec_id": rec["impression_id"]})
                clicks += 1
        await producer.send("events.view", ev["user_id"], ev)
        if i % 20 == 0:
            ahead = i / args.rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
        if time.monotonic() - t0 >= next_print or i == len(events) - 1:
            if i == len(events) - 1:
                await producer.flush()
                await asyncio.sleep(2.0)
            next_print += args.every
            r = report(exp, await store.experiment_stats(exp.name))
            cells = " | ".join(f"{r[v]['impressions']} / {r[v]['successes']} / "
                               f"{r[v]['ctr']:.3f} / {r[v]['p_best']:.2f}" for v in exp.variants)
            print(f"| {time.monotonic() - t0:5.0f} | {i + 1:6} | {cells} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1500.0)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--allocation", default="bandit", choices=("bandit", "fixed"))
    ap.add_argument("--variants", nargs="+", default=["trending", "covisit", "blend"])
    ap.add_argument("--data-dir", default=None)
    asyncio.run(run(ap.parse_args(argv)))


if __name__ == "__main__":
    main()
