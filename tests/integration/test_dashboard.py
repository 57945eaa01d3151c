"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright) over
the API and a real redis-server: the page loads with nothing from outside, the numbers it
shows are those of /metrics, and its buttons pause and resume an experiment only with
the admin token. The page's Content-Security-Policy holds in the browser (so the
test waits on selectors, not on evaluated JavaScript). The screenshot lands in
``artifacts/dashboard.png``."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.server import start_api
from tests.conftest import metric, seed_figures

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOKEN = "dashboard-test-token"
pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: deploy/install.sh installs Debian's "
    "chromium where apt-get runs as root; it could not here")]


@pytest.fixture
async def api(redis_settings):
    s = redis_settings.replace(api_port=0, admin_token=TOKEN)
    runner, url = await start_api(s)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        yield url, store
    await runner.cleanup()


@pytest.fixture
async def page(api):
    from playwright.async_api import async_playwright

    url, _ = api
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                           args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1400, "height": 1700})
        page.outside, page.errors, page.failed = [], [], []
        page.on("request", lambda r: r.url.startswith(url) or page.outside.append(r.url))
        page.on("response", lambda r: r.status < 400 or page.failed.append(
            (r.request.method, r.url.removeprefix(url), r.status)))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and page.errors.append(m.text))
        yield page
        await browser.close()


async def shown(page, selector: str) -> float:
    return float(await page.get_attribute(selector, "data-value"))


async def test_dashboard_shows_the_metrics_and_its_buttons_act(api, page):
    url, store = api
    # 100 latencies in the (5, 10] ms bucket: histogram_quantile puts p50 at 7.5, p99 at 9.95
    await seed_figures(store, latencies_ms=[6.0] * 100, worker_info={
        "events_per_s": 123.5, "lag": 7, "partitions": {"ev.view:0": 5, "ev.view:1": 2},
        "ts": 9e12})
    await page.goto(f"{url}/dashboard?poll_ms=100")
    await page.wait_for_selector("body[data-ready='1']")
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()

    for selector, name, labels in (
            ("#events-total", "streamrec_events_total", {}),
            ("#dlq-total", "streamrec_dlq_total", {}),
            ("#recs-total", "streamrec_recommendations_total", {}),
            ("#sold-out", "streamrec_sold_out_items", {}),
            ("#hit-rate", "streamrec_prequential_hit_rate", {}),
            ("#workers-table tr[data-worker='w1'] td:nth-child(2)",
             "streamrec_events_per_second", {"worker": "w1"}),
            ("#dlq-table tr[data-reason='timestamp'] td:last-child",
             "streamrec_dlq_reason_total", {"reason": "timestamp"}),
            ("#dlq-table tr[data-reason='unknown_item'] td:last-child",
             "streamrec_dlq_reason_total", {"reason": "unknown_item"}),
            ("#lag-table tr[data-partition='0'] td:last-child",
             "streamrec_consumer_partition_lag", {"topic": "ev.view", "partition": "0"}),
            ("#lag-table tr[data-partition='1'] td:last-child",
             "streamrec_consumer_partition_lag", {"topic": "ev.view", "partition": "1"}),
            ("[data-experiment='e1'] tr[data-variant='blend'] td.ctr",
             "streamrec_experiment_ctr", {"experiment": "e1", "variant": "blend"}),
            ("[data-experiment='e1'] tr[data-variant='covisit'] td.p-best",
             "streamrec_experiment_p_best", {"experiment": "e1", "variant": "covisit"})):
        want = metric(text, name, **labels)
        assert want is not None, name
        assert await shown(page, selector) == pytest.approx(want), selector
    assert await shown(page, "#hit-rate") == 0.25          # 2 hits in 8 judged
    assert await shown(page, "#lag-total") == 7
    assert await shown(page, "#latency-p50") == pytest.approx(7.5)
    assert await shown(page, "#latency-p99") == pytest.approx(9.95)
    assert await page.is_visible("#models-table tr[data-component='river'][data-version='7']")
    assert await page.is_visible(
        "#models-table tr[data-component='transformer'][data-version='seq-abc']")
    assert await page.locator(".uplot").count() == 6     # five plots and e1's allocation

    e1 = "[data-experiment='e1']"
    await page.fill("#admin-token", "wrong")
    await page.click(f"{e1} button[data-action='pause']")
    await page.wait_for_selector("#action-result[data-status='401']")
    assert (await store.get_experiment("e1")).status == "running"
    await page.fill("#admin-token", TOKEN)
    await page.click(f"{e1} button[data-action='pause']")
    await page.wait_for_selector(f"{e1}[data-status='paused']")
    assert (await store.get_experiment("e1")).status == "paused"
    await page.click(f"{e1} button[data-action='resume']")
    await page.wait_for_selector(f"{e1}[data-status='running']")
    assert (await store.get_experiment("e1")).status == "running"

    # live: a new batch shows on a next render, its rate and latency over the last seconds
    # (10 lists in the (20, 50] ms bucket: p50 35 ms), the counters since start
    await store.record_batch(events=20, dlq=0, recs=10, catalog=0, latencies_ms=[30.0] * 10,
                             worker="w1", worker_info={})
    await page.wait_for_selector("#events-total[data-value='25']")
    await page.wait_for_selector("#latency-p50[data-value='35']")
    assert await shown(page, "#events-per-s") > 0
    assert (await page.inner_text("#latency-span")).startswith("last ")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert page.outside == [] and page.errors == []
    assert page.failed == [("POST", "/experiments/e1/pause", 401)]   # the wrong token's


async def test_root_redirects_and_unknown_assets_are_404(api):
    url, _ = api
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/dashboard"
        async with http.get(f"{url}/dashboard") as r:
            assert r.status == 200 and "default-src 'none'" in r.headers[
                "Content-Security-Policy"]
        async with http.get(f"{url}/dashboard/../server.py") as r:
            assert r.status == 404
        async with http.get(f"{url}/dashboard/figures.json") as r:
            body = await r.json()
        assert [c["bucket"] for c in body["curve"]] == [] and body["samples"]
