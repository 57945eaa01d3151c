"""Explanations and profiles over a real Redis: the worker stores why each item is in a
list, and the API serves the reasons only when asked (``?explain=1``); the worker keeps
each user's profile, and the API serves it to admins."""

from __future__ import annotations

import time

import aiohttp
import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers, RedisUsers
from streamrec.streams.api.server import start_api
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration


T0 = 1.7e9


def view(settings, user, item, ts):
    body = {"event_id": f"{user}-{item}-{ts}", "user_id": user, "item_id": item,
            "ts": T0 + ts}
    return Message(settings.topic("events.view"), 0, next_offset(), user.encode(),
                   orjson.dumps(body), time.time())


async def test_lists_say_why_and_the_api_serves_it_on_request(redis_settings):
    s = redis_settings.replace(learned_ranker=False, river_weight=0.0, candidate_cache_ms=0)

    async def sink(*a):
        pass
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(
            [CatalogChange(str(i), stock=5, price=10.0, category="c", title=f"Film {i}")
             for i in range(1, 9)])
        await store.apply_catalog([CatalogChange("3", price=8.0)])      # a 20% drop
        proc = Processor(s, store, MemoryUsers(), sink)
        # others view 1 then 2 or 3: both co-visited with 1; the last user then views 1
        await proc.process_events([view(s, f"o{n}", item, 10.0 * n + t) for n in range(6)
                                   for t, item in enumerate(("1", "2" if n % 3 else "3"))])
        await proc.process_events([view(s, "me", "1", 100.0)])
        runner, url = await start_api(s.replace(api_port=0))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url + "/recommendations/me?k=3&explain=1") as r:
                    explained = await r.json()
                async with http.get(url + "/recommendations/me?k=3") as r:
                    plain = await r.json()
                async with http.get(url + "/recommendations/me?explain=yes") as r:
                    assert r.status == 400 and "explain" in (await r.json())["error"]
                async with http.get(url + "/recommendations/nobody?explain=1") as r:
                    cold = await r.json()
        finally:
            await runner.cleanup()
    why = {it["item_id"]: it["why"] for it in explained["items"]}
    assert [it["item_id"] for it in explained["items"]][:2] == ["2", "3"]
    assert why["2"][0].startswith("viewed with Film 1 (co-visits ")
    assert why["3"][0].startswith("viewed with Film 1 (co-visits ")
    assert "price dropped 20%" in why["3"] and "price dropped 20%" not in why["2"]
    assert all("why" not in it for it in plain["items"])
    assert [it["item_id"] for it in plain["items"]] == list(why)
    assert cold["cold_start"] and cold["items"][0]["why"] == ["trending #1"]


async def test_the_worker_keeps_each_users_profile_and_the_api_serves_it(redis_settings):
    s = redis_settings
    auth = {"Authorization": "Bearer " + s.serving.admin_token.get_secret_value()}

    async def sink(*a):
        pass
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(
            [CatalogChange(str(i), stock=5, price=10.0 * i, category=("tents", "stoves")[i % 2])
             for i in range(1, 9)])
        proc = Processor(s, store, RedisUsers(store), sink)
        events = [("view", "2", 0), ("view", "4", 60), ("view", "8", 120), ("purchase", "2", 180),
                  ("view", "3", 5000)]                  # a new session after the gap
        await proc.process_events([Message(
            s.topic("events"), 0, next_offset(), b"ann", orjson.dumps(
                {"event_id": f"p{n}", "user_id": "ann", "item_id": item, "ts": T0 + ts,
                 "type": kind}), time.time()) for n, (kind, item, ts) in enumerate(events)])
        runner, url = await start_api(s.replace(api_port=0))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url + "/users/ann/profile") as r:
                    assert r.status == 401                           # personal data
                async with http.get(url + "/users/ann/profile", headers=auth) as r:
                    got = await r.json()
                async with http.get(url + "/users/nobody/profile", headers=auth) as r:
                    assert r.status == 404 and "nobody" in (await r.json())["error"]
        finally:
            await runner.cleanup()
    assert [c["category"] for c in got["categories"]] == ["tents", "stoves"]
    assert got["categories"][0]["affinity"] > 0.8
    assert got["price"]["band"] == [30.0, 40.0]    # viewed 20, 40, 80, 30: nearest ranks
    assert got["price"]["sensitivity"] == pytest.approx(20.0 / (20 * 40 * 80 * 30) ** 0.25,
                                                        rel=1e-3)
    assert got["session"] == {"session_id": None, "started_at": T0 + 5000, "events": 1}
    assert got["recent_items"] == ["3", "2", "8", "4"] and got["purchases"] == 1
