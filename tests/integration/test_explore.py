"""Exploration among candidates over a real Redis: clicks lift an under-ranked item."""

from __future__ import annotations

import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.worker.processor import Message, Processor

pytestmark = pytest.mark.integration


async def test_clicked_items_rise_and_stats_are_shared(redis_settings):
    s = redis_settings.replace(explore=True, k=3, diversity_lambda=1.0, content_weight=0.0,
                               explore_prior_strength=2.0)
    n = 0

    def msg(kind, user, item, **kw):
        nonlocal n
        n += 1
        return Message(s.topic(f"events.{kind}"), 0, n, user.encode(), orjson.dumps(
            {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": float(n), **kw}),
            time.time())

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
