"""Exploration among candidates over a real Redis: clicks lift an under-ranked item."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor

pytestmark = pytest.mark.integration


class Events:
    """``msg(kind, user, item, **fields)``: the next event, numbered (id, offset, ts)."""

    def __init__(self, settings):
        self.s, self.n = settings, 0

    def __call__(self, kind, user, item, **kw):
        self.n += 1
        n = self.n
        return Message(self.s.topic(f"events.{kind}"), 0, n, user.encode(), orjson.dumps(
            {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": float(n), **kw}),
            time.time())


async def test_clicked_items_rise_and_stats_are_shared(redis_settings):
    s = redis_settings.replace(explore=True, k=3, diversity_lambda=1.0, content_weight=0.0,
                               explore_prior_strength=2.0)
    msg = Events(s)

    async def sink(*a):
        pass

    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        items = [str(i) for i in range(12)]
        await store.apply_catalog([CatalogChange(i, stock=9) for i in items])
        # two workers
        a, b = Processor(s, store, MemoryUsers(), sink), Processor(s, store, MemoryUsers(), sink)
        # popularity: item 0 most viewed ... item 9 least; the sleeper "5" is ranked 6th,
        # the last of the 2K = 6 candidates exploration chooses from
        await a.process_events([msg("view", f"p{j}", str(i)) for i in range(10)
                                for j in range(10 - i)])

        async def shows(proc, user):
            await proc.process_events([msg("view", user, "11")])
            rec = (await store.read_rec(user, 3))[0]
            return rec, [x["item_id"] for x in rec["items"][:3]]

        before = 0
        for r in range(30):
            _, top = await shows(a, f"x{r}")
            before += "5" in top
        # every time the sleeper is shown, the user clicks it (the other items: never)
        for r in range(150):
            proc = (a, b)[r % 2]
            rec, top = await shows(proc, f"y{r}")
            if "5" in top:
                await proc.process_events([msg("click", f"y{r}", "5",
                                               rec_id=rec["impression_id"])])
        after = 0
        for r in range(30):
            rec, top = await shows(b, f"z{r}")
            after += "5" in top
        assert rec["explore"] == "thompson"
        stats = await store.item_arm_stats(["5", "0"])
        assert stats["5"][1] > 0 and stats["5"][1] <= stats["5"][0]
        assert after > before and after >= 20, (before, after)


async def test_explored_lists_log_their_propensities_and_clicks_for_ope(redis_settings):
    """Each explored list goes to ``impressions`` with each shown item's propensity at
    its position; each click on it too. ``streamrec ope`` then estimates a uniform
    target: "1" is clicked whenever it is shown (nothing else ever), so a uniform choice
    of 3 of a list's candidates earns 3 / (candidates) clicks where "5" is among them."""
    from streamrec.models.bandits import RandomPolicy, ThompsonSampling
    from streamrec.models.ope_slate import evaluate_slates
    from streamrec.streams import schemas
    from streamrec.streams.tools.ope_log import rounds

    s = redis_settings.replace(explore=True, k=3, diversity_lambda=1.0, content_weight=0.0,
                               explore_prior_strength=2.0, redis_prefix="ope:")
    msg, logged = Events(s), []

    async def sink(topic, key, value):
        if topic == s.topic("impressions"):
            logged.append(value)

    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(str(i), stock=9) for i in range(12)])
        proc = Processor(s, store, MemoryUsers(), sink)
        await proc.process_events([msg("view", f"p{j}", str(i)) for i in range(10)
                                   for j in range(10 - i)])
        logged.clear()
        # one batch: 200 lists from the same arm statistics (the log's support), then
        # the clicks on them, each of which makes one more list (without "1": seen)
        await proc.process_events([msg("view", f"y{r}", "11") for r in range(200)])
        clicks = []
        for r in range(200):
            rec = (await store.read_rec(f"y{r}", 3))[0]
            if "1" in [x["item_id"] for x in rec["items"][:3]]:
                clicks.append(msg("click", f"y{r}", "1", rec_id=rec["impression_id"]))
        await proc.process_events(clicks)
        clicks = len(clicks)
    records = [schemas.decode_impression(v) for v in logged]
    shown = [x for x in records if isinstance(x, schemas.Impression)]
    assert len(shown) == 200 + clicks          # a click makes a new list too
    assert sum(isinstance(x, schemas.ImpressionReward) for x in records) == clicks > 0
    for imp in shown:
        assert [it.position for it in imp.items] == [0, 1, 2]
        assert all(0 < it.propensity <= 1 for it in imp.items)
        assert {it.item_id for it in imp.items} <= set(imp.offered)
    log = rounds(logged)
    assert sum(r.reward for r in log) == clicks
    truth = np.mean([3 / len(imp.offered) if "1" in imp.offered else 0.0 for imp in shown])
    est = evaluate_slates(log, RandomPolicy(seed=0), seed=0, n_boot=300)
    uniform = est["independent"]
    assert uniform.low <= truth <= uniform.high and abs(uniform.value - truth) < 0.1, \
        (uniform, truth)
    thompson = evaluate_slates(log, ThompsonSampling(seed=0), seed=0, n_boot=100, draws=100)
    assert 0.0 <= thompson["independent"].value < 3.0


async def test_ope_reads_the_impressions_topic_from_the_broker(settings, capsys):
    """``streamrec ope kafka://HOST:PORT/TOPIC`` reads the topic to its end."""
    from aiokafka import AIOKafkaProducer

    from streamrec.streams import schemas
    from streamrec.streams.cli import main
    from streamrec.streams.topics import ensure_topics

    await ensure_topics(settings, ("impressions",))
    topic = settings.topic("impressions")
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker)
    await p.start()
    for n in range(40):
        shown = schemas.Impression(f"i{n}", f"u{n}", 1.0, "blend", [
            schemas.ShownItem("a", 0, 0.5), schemas.ShownItem("b", 1, 0.5)], ["a", "b"])
        await p.send(topic, schemas.encode(shown), partition=n % 2)
        if n % 4 == 0:
            await p.send(topic, schemas.encode(schemas.ImpressionReward(
                f"i{n}", "a", f"e{n}", "click", 2.0)))
    await p.stop()
    loop = asyncio.get_running_loop()
    rc = await loop.run_in_executor(None, main, ["ope", f"kafka://{settings.kafka.broker}/"
                                                 f"{topic}", "--policy", "random",
                                                 "--boot", "50", "--positions"])
    out = capsys.readouterr().out
    assert rc == 0 and "40 logged lists" in out
    # a uniform target over {a, b}: position 1 holds "a" half the time, as logged: 1/4
    row = next(line for line in out.splitlines() if "| independent@1 " in line)
    assert float(row.split("|")[2]) == pytest.approx(0.25)
