"""``GET /search`` against a real broker and Redis: the API's index is rebuilt from Redis
on start and follows ``catalog.updates``; queries made of a title's words find their own
item on movielens-small titles and on the online-retail sample's descriptions; sold-out
items leave the answers; the user's profile re-ranks them; bad input gets a clear 400."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.models.userstate import UserState
from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.server import start_api
from streamrec.streams.tools import dataset, retail
from streamrec.streams.tools.replay import Producer
from streamrec.streams.tools.search_eval import draw_queries, recall
from tests.conftest import eventually

pytestmark = pytest.mark.integration
N_ITEMS = 400


def change(c: dict) -> CatalogChange:
    return CatalogChange(c["item_id"], stock=c["stock"], price=c["price"],
                         category=c["category"], title=c["title"])


async def _serve(settings, store, before, after):
    """Start the API with ``before`` in Redis, then publish ``after`` on catalog.updates;
    returns (runner, url) once every item is searchable."""
    await store.apply_catalog([change(c) for c in before])
    runner, url = await start_api(settings.replace(api_port=0, search=True))
    async with Producer(settings) as producer:
        for c in after:
            await producer.send("catalog.updates", c["item_id"], c)

    async def indexed():     # by the API, and applied to Redis by the worker: search
        # answers only items whose catalog entry is there (under load the worker's catalog
        # agent can trail the API's follower of the same topic)
        async with aiohttp.ClientSession() as http, http.get(url + "/search?q=x") as r:
            body = await r.json()
            n = len(before) + len(after)
            return (r.status == 200 and body["index"]["items"] == n
                    and len(await store.catalog_all()) == n)
    await eventually(indexed, timeout=120)
    return runner, url


async def _search(http, url, q, **params):
    async with http.get(url + "/search", params={"q": q, **params}) as r:
        return r.status, await r.json()


async def test_search_finds_titles_follows_the_catalog_and_reranks_by_profile(
        settings, data_dir, worker_factory):
    catalog = dataset.read_catalog(data_dir)[:N_ITEMS]
    half = N_ITEMS // 2
    worker_factory()      # its catalog agent applies catalog.updates to Redis
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store:
        runner, url = await _serve(settings, store, catalog[:half], catalog[half:])
        try:
            async with aiohttp.ClientSession() as http:
                async def ids(q):
                    return [it["item_id"] for it in (await _search(http, url, q, k=20))[1]
                            ["items"]]
                from_redis = await recall(ids, draw_queries(catalog[:half], 100, 1), 20)
                followed = await recall(ids, draw_queries(catalog[half:], 100, 2), 20)

                # a title changed on the topic is found by its new words, not its old ones
                item = catalog[0]
                async with Producer(settings) as producer:
                    await producer.send("catalog.updates", item["item_id"],
                                        {"item_id": item["item_id"],
                                         "title": "Zyxwv Quantum Harpsichord Saga"})

                async def renamed():
                    return (await ids("quantum harpsichord"))[:1] == [item["item_id"]]
                await eventually(renamed, timeout=30)

                # sold out on the topic: gone from the answers once the worker applied it
                target = catalog[5]
                q = target["title"]
                assert (await ids(q))[0] == target["item_id"]
                async with Producer(settings) as producer:
                    await producer.send("catalog.updates", target["item_id"],
                                        {"item_id": target["item_id"], "stock": 0})

                async def sold_out():
                    return target["item_id"] not in await ids(q)
                await eventually(sold_out, timeout=30)
                assert await store.out_of_stock() == {target["item_id"]}

                # the profile: two lamps with the same title, one per category
                async with Producer(settings) as producer:
                    for i in ("lamp-kids", "lamp-office"):
                        await producer.send("catalog.updates", i, {
                            "item_id": i, "title": "Glowing Moon Lamp", "stock": 3,
                            "price": 20.0, "category": i.split("-")[1].title()})
                st = UserState()
                for n in range(5):
                    st.observe(f"o{n}", "view", recent_cap=10, seen_cap=10, ts=float(n),
                               category="Office", price=20.0)
                await store.put_user_states({"worker-bee": orjson.dumps(st.to_json())})

                async def both():
                    return {"lamp-kids", "lamp-office"} <= set(await ids("glowing moon lamp"))
                await eventually(both, timeout=30)
                status, anon = await _search(http, url, "glowing moon lamp", k=2)
                status, mine = await _search(http, url, "glowing moon lamp", k=2,
                                             user="worker-bee")

                bad = [await _search(http, url, q, k=k) for q, k in
                       (("", 5), ("lamp", 0), ("lamp", "many"), ("x" * 513, 5))]
        finally:
            await runner.cleanup()
    assert from_redis["recall@10"] >= 0.85, from_redis
    assert followed["recall@10"] >= 0.85, followed
    assert not anon["personalised"] and mine["personalised"]
    assert [it["item_id"] for it in mine["items"]] == ["lamp-office", "lamp-kids"]
    assert mine["items"][0]["affinity"] == 1.0 and mine["items"][1]["affinity"] == 0.0
    # without the user the text alone orders them (the kids' lamp is nearer); the
    # profile's affinity overturns that order
    assert [it["item_id"] for it in anon["items"]] == ["lamp-kids", "lamp-office"]
    assert mine["items"][0]["similarity"] < mine["items"][1]["similarity"]
    assert [s for s, _ in bad] == [400, 400, 400, 400]
    assert "q must have" in bad[0][1]["error"] and "k must be" in bad[2][1]["error"]


async def test_search_finds_retail_products_from_words_of_their_description(settings):
    from streamrec.streams.exceptions import StreamrecError
    try:
        catalog = retail.read_catalog(retail.beside(settings.resolved_data_dir()))[:N_ITEMS]
    except StreamrecError as e:
        pytest.skip(str(e))
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store:
        runner, url = await _serve(settings, store, catalog, [])
        try:
            async with aiohttp.ClientSession() as http:
                async def ids(q):
                    return [it["item_id"] for it in (await _search(http, url, q, k=20))[1]
                            ["items"]]
                got = await recall(ids, draw_queries(catalog, 150, 3), 20)
        finally:
            await runner.cleanup()
    assert got["recall@10"] >= 0.85, got


async def test_search_is_off_unless_configured_and_needs_a_broker(redis_settings):
    from streamrec.streams.api.server import make_app
    from streamrec.streams.exceptions import StreamrecError

    runner, url = await start_api(redis_settings.replace(api_port=0))
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/search?q=lamp") as r:
            assert r.status == 404 and "STREAMREC_SEARCH" in (await r.json())["error"]
    finally:
        await runner.cleanup()
    with pytest.raises(StreamrecError, match="STREAMREC_BROKER"):
        make_app(redis_settings.replace(search=True))
