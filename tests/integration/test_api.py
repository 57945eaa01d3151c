"""The HTTP API over a real redis-server."""

from __future__ import annotations

import aiohttp
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.server import start_api
from tests.conftest import metric, seed_figures, stored_list

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(redis_settings):
    s = redis_settings.replace(api_port=0)
    runner, url = await start_api(s)
    async with (RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store,
                aiohttp.ClientSession() as http):
        yield url, store, http
    await runner.cleanup()


async def get(http, url):
    async with http.get(url) as r:
        return r.status, await r.json(content_type=None)


async def test_stored_list_minus_sold_out_items(api):
    url, store, http = api
    await store.apply_catalog([CatalogChange(i, stock=5) for i in "abcd"])
    await store.write_recs({"u": stored_list("u", "abcd", impression_id="imp")})
    status, body = await get(http, f"{url}/recommendations/u?k=3")
    assert status == 200 and [i["item_id"] for i in body["items"]] == ["a", "b", "c"]
    assert body["impression_id"] == "imp" and body["cold_start"] is False
    await store.apply_catalog([CatalogChange("b", stock=0)])       # sold out
    _, body = await get(http, f"{url}/recommendations/u?k=3")
    assert [i["item_id"] for i in body["items"]] == ["a", "c", "d"]
    await store.apply_catalog([CatalogChange("b", stock=2)])       # restocked
    _, body = await get(http, f"{url}/recommendations/u?k=3")
    assert [i["item_id"] for i in body["items"]] == ["a", "b", "c"]


async def test_a_rewritten_list_is_served_at_once_and_each_k_and_explain_apart(api):
    """The API keeps lists (tracked by Redis) and their rendered bodies: a rewrite by the
    worker reaches the next request, and k and explain never share a body."""
    from streamrec.streams import schemas
    url, store, http = api
    await store.apply_catalog([CatalogChange(i, stock=5) for i in "abcde"])
    await store.write_recs({"u": schemas.encode(schemas.StoredList(
        user_id="u", items=[schemas.ListItem(i, 1.0, ["because"]) for i in "abcd"],
        impression_id=None, policy="p", model_version="v", generated_at=1.0))})
    for _ in range(2):
        _, two = await get(http, f"{url}/recommendations/u?k=2")
        _, three = await get(http, f"{url}/recommendations/u?k=3&explain=1")
        assert [i["item_id"] for i in two["items"]] == ["a", "b"]
        assert [i["item_id"] for i in three["items"]] == ["a", "b", "c"]
        assert two["items"][0].get("why") is None and three["items"][0]["why"] == ["because"]
    await store.write_recs({"u": stored_list("u", "edc")})
    _, two = await get(http, f"{url}/recommendations/u?k=2")
    assert [i["item_id"] for i in two["items"]] == ["e", "d"]


async def test_sold_out_items_are_checked_in_lists_made_just_after(api):
    """A list made within the clock-skew margin after a sellout (a worker that read the stock
    just before it) is still filtered."""
    import time
    url, store, http = api
    await store.apply_catalog([CatalogChange(i, stock=5) for i in "abc"])
    await store.apply_catalog([CatalogChange("b", stock=0)])
    await store.write_recs({"late": stored_list("late", "abc", time.time() + 2)})
    for user in ("late",):
        _, body = await get(http, f"{url}/recommendations/{user}?k=3")
        assert [i["item_id"] for i in body["items"]] == ["a", "c"], user


async def test_cold_user_gets_trending(api):
    url, store, http = api
    await store.ingest([("e1", "x", 10.0, [], 1.0), ("e2", "y", 10.0, [], 1.0),
                        ("e3", "y", 11.0, [], 1.0)])
    status, body = await get(http, f"{url}/recommendations/nobody?k=5")
    assert status == 200 and body["cold_start"] is True and body["policy"] == "trending"
    assert [i["item_id"] for i in body["items"]] == ["y", "x"]
    await store.apply_catalog([CatalogChange("y", stock=0)])       # sold out: gone for all
    _, body = await get(http, f"{url}/recommendations/nobody?k=5")
    assert [i["item_id"] for i in body["items"]] == ["x"]


@pytest.mark.parametrize("query", ["k=0", "k=501", "k=abc", "k=-3"])
async def test_bad_k_is_a_json_400(api, query):
    url, _, http = api
    status, body = await get(http, f"{url}/recommendations/u?{query}")
    assert status == 400 and "k must be an integer" in body["error"]


async def test_unknown_route_is_json_404_and_health_ok(api):
    url, _, http = api
    status, body = await get(http, f"{url}/nope")
    assert status == 404 and body["status"] == 404
    status, body = await get(http, f"{url}/health")
    assert status == 200 and body["status"] == "ok"


async def test_metrics_are_prometheus_text(api):
    url, store, http = api
    await store.record_batch(events=5, dlq=2, recs=3, catalog=0, latencies_ms=[3.0, 40.0],
                             duplicates=4,
                             worker="w1", worker_info={"events_per_s": 123.0, "lag": 7,
                                                       "partitions": {"ev.view:0": 5,
                                                                      "ev.view:1": 2},
                                                       "ranker": {"blend": 0.25,
                                                                  "price_fit": -0.5},
                                                       "ts": 9e12})
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    cluster = {"scope": "cluster"}      # figures read from Redis, the same on every API
    assert metric(text, "streamrec_events_total", **cluster) == 5
    assert metric(text, "streamrec_dlq_total", **cluster) == 2
    assert metric(text, "streamrec_duplicates_total", **cluster) == 4
    assert metric(text, "streamrec_events_per_second", worker="w1", **cluster) == 123
    assert metric(text, "streamrec_consumer_lag", worker="w1", **cluster) == 7
    for partition, behind in (("0", 5), ("1", 2)):
        assert metric(text, "streamrec_consumer_partition_lag", worker="w1", topic="ev.view",
                      partition=partition, **cluster) == behind
    assert metric(text, "streamrec_ranker_weight", worker="w1", feature="blend") == 0.25
    assert metric(text, "streamrec_ranker_weight", worker="w1", feature="price_fit") == -0.5
    assert metric(text, "streamrec_event_to_rec_latency_ms_bucket", le="5") == 1
    assert metric(text, "streamrec_event_to_rec_latency_ms_bucket", le="50") == 2
    assert metric(text, "streamrec_event_to_rec_latency_ms_count") == 2
    assert metric(text, "process_cpu_seconds_total") is not None    # the API process's own


async def test_metrics_show_dlq_reasons_sold_out_items_models_and_experiments(api):
    url, store, http = api
    await seed_figures(store)
    await store.set_experiment_status("e1", "paused")
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    assert metric(text, "streamrec_dlq_reason_total", reason="timestamp") == 2
    assert metric(text, "streamrec_dlq_reason_total", reason="unknown_item") == 1
    assert metric(text, "streamrec_sold_out_items") == 2
    assert metric(text, "streamrec_model_info", component="river", version="7") == 1
    assert metric(text, "streamrec_model_info", component="transformer", version="seq-abc",
                  device="cpu") == 1
    assert metric(text, "streamrec_experiment_ctr", experiment="e1", variant="blend") == 0.4
    lo = metric(text, "streamrec_experiment_ctr_lower", experiment="e1", variant="blend")
    hi = metric(text, "streamrec_experiment_ctr_upper", experiment="e1", variant="blend")
    assert 0 < lo < 0.4 < hi < 1      # Wilson's interval of 2 in 5
    assert metric(text, "streamrec_experiment_status", experiment="e1", status="paused") == 1
    assert metric(text, "streamrec_experiment_status", experiment="e1",
                  status="running") is None


async def test_serving_survives_a_script_flush(api):
    """The serving script is loaded by EVALSHA; after Redis forgets it (restart, SCRIPT
    FLUSH) a cold user and a list with a sold-out item are still served right."""
    url, store, http = api
    await store.ingest([("e1", "x", 10.0, [], 1.0), ("e2", "y", 11.0, [], 1.0)])
    await store.apply_catalog([CatalogChange("y", stock=0)])
    await store.write_recs({"u": stored_list("u", "xy")})
    await store.client.script_flush()
    _, body = await get(http, f"{url}/recommendations/nobody?k=5")
    assert [i["item_id"] for i in body["items"]] == ["x"] and body["cold_start"] is True
    await store.client.script_flush()
    _, body = await get(http, f"{url}/recommendations/u?k=5")
    assert [i["item_id"] for i in body["items"]] == ["x"] and body["cold_start"] is False


async def test_redis_down_is_a_json_503(redis_settings):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner, url = await start_api(redis_settings.replace(
        api_port=0, redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, f"{url}/recommendations/u?k=3")
            assert status == 503 and "Redis unavailable" in body["error"]
            assert f"127.0.0.1:{port}" in body["error"]
            status, body = await get(http, f"{url}/health")
            assert status == 503 and body["status"] == "unavailable"
    finally:
        await runner.cleanup()


async def test_metrics_count_and_time_this_process_requests(api):
    url, store, http = api
    await store.write_recs({"u": stored_list("u", "a")})
    for query in ("k=3", "k=3", "k=0"):
        await get(http, f"{url}/recommendations/u?{query}")
    await get(http, f"{url}/nope")
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    route = "/recommendations/{user_id}"
    assert metric(text, "streamrec_api_requests_total", route=route, status="200") == 2
    assert metric(text, "streamrec_api_requests_total", route=route, status="400") == 1
    assert metric(text, "streamrec_api_requests_total", route="unmatched", status="404") == 1
    assert metric(text, "streamrec_api_request_duration_ms_bucket", route=route,
                  le="+Inf") == 3
    assert metric(text, "streamrec_api_request_duration_ms_count", route=route) == 3
    assert metric(text, "streamrec_api_requests_total", scope="cluster") is None   # ours


async def test_health_reports_each_process_from_its_heartbeat(api):
    import time
    url, store, http = api
    status, body = await get(http, f"{url}/health")
    assert status == 200 and body["pipeline"] == "degraded" and body["workers"] == {}
    await store.heartbeat("w1", {"ts": time.time(), "lag": 7, "last_error": ""})
    await store.heartbeat("w0", {"ts": time.time() - 60, "lag": 0, "last_error": "boom"})
    status, body = await get(http, f"{url}/health")
    assert body["pipeline"] == "ok"
    assert body["workers"]["w1"]["alive"] and body["workers"]["w1"]["lag"] == 7
    assert not body["workers"]["w0"]["alive"] and body["workers"]["w0"]["last_error"] == "boom"
    await store.heartbeat("learner", {"ts": time.time() - 30, "lag": 0})
    assert (await get(http, f"{url}/health"))[1]["pipeline"] == "degraded"   # learner silent
    assert (await get(http, f"{url}/health/live")) == (200, {"status": "ok"})
    assert (await get(http, f"{url}/health/ready"))[0] == 200


def test_redis_loading_is_an_outage_not_an_error():
    """A restarted Redis answers LOADING while it reads its data: the lean client raises
    the same error redis-py does (a ConnectionError), which the API answers with 503."""
    import hiredis
    from redis.exceptions import BusyLoadingError

    from streamrec.state.resp import _error
    assert isinstance(_error(hiredis.ReplyError("LOADING Redis is loading the dataset")),
                      BusyLoadingError)
