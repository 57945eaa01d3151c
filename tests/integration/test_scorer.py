"""The scoring worker over a real broker: answers, equality with the eager model,
a model swap mid-stream that loses nothing, and bad requests to the DLQ."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
import torch
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamrec.models.sequential import build, load, save
from streamrec.state.users import MemoryUsers
from streamrec.streams.scorer import Scorer
from streamrec.streams.topics import ensure_topics
from tests.conftest import metric

pytestmark = pytest.mark.integration
ITEMS = [str(100 + i) for i in range(30)]


def make_model(folder, seed):
    model = build(len(ITEMS), dim=16, layers=1, heads=2, max_len=10, seed=seed).eval()
    save(model, ITEMS, folder)


def request(i):
    return {"request_id": f"r{i}", "sequence": ITEMS[i % 7: i % 7 + 1 + i % 5],
            "candidates": [ITEMS[(i + j) % 30] for j in range(1 + i % 9)] + ["unknown"]}


async def collect(settings, n, timeout=60):
    c = AIOKafkaConsumer(settings.topic("score.results"), bootstrap_servers=settings.kafka.broker,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    out = {}
    try:
        async with asyncio.timeout(timeout):
            while len(out) < n:
                for msgs in (await c.getmany(timeout_ms=200)).values():
                    for m in msgs:
                        d = orjson.loads(m.value)
                        out.setdefault(d["request_id"], []).append(d)
    finally:
        await c.stop()
    return out


@pytest.fixture
async def scorer(settings, tmp_path):
    await ensure_topics(settings, ("score.requests", "score.results", "events.dlq"))
    make_model(tmp_path, seed=1)
    sc = Scorer(settings, tmp_path, max_batch=16, max_wait_ms=5, device="cpu",
                reload_every_s=0.2)
    task = asyncio.create_task(sc.run())
    yield sc, tmp_path
    sc.stop()
    await asyncio.wait_for(task, 30)


async def test_scores_match_the_eager_model(settings, scorer):
    sc, folder = scorer
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker)
    await p.start()
    for i in range(60):
        await p.send(settings.topic("score.requests"), orjson.dumps(request(i)))
    await p.stop()
    got = await collect(settings, 60)
    model, items = load(folder)
    index = {it: n + 1 for n, it in enumerate(items)}
    for i in range(60):
        r = request(i)
        (res,) = got[f"r{i}"]
        want = model.score([[index[x] for x in r["sequence"]]],
                           [[index[x] for x in r["candidates"][:-1]]])[0]
        assert res["scores"][-1] is None   # unknown item
        assert torch.allclose(torch.tensor(res["scores"][:-1]), want, atol=1e-5)
    assert sc.batcher.stats.batches < 60   # requests were batched
    # the scorer's metrics reach the API's /metrics
    import aiohttp

    from streamrec.streams.api.server import start_api
    runner, url = await start_api(settings.replace(api_port=0))
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 10
            text = ""
            while metric(text, "streamrec_scorer_requests_total") != 60:
                assert time.monotonic() < deadline, text[-2000:]
                await asyncio.sleep(0.3)
                async with http.get(url + "/metrics") as r:
                    text = await r.text()
        batches = metric(text, "streamrec_scorer_batch_size_bucket", le="+Inf")
        assert batches is not None and 0 < batches <= 60
        assert metric(text, "streamrec_scorer_batch_size_sum") == 60
        assert metric(text, "streamrec_scorer_compute_seconds_total") > 0
    finally:
        await runner.cleanup()


async def test_model_swap_mid_stream_loses_no_request(settings, scorer):
    sc, folder = scorer
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker)
    await p.start()
    first = sc.scorer.version
    extra = 0
    for i in range(300):
        await p.send(settings.topic("score.requests"), orjson.dumps(request(i)))
        if i == 100:
            await p.flush()
            make_model(folder, seed=2)     # a newly trained model lands mid-stream
            deadline = time.monotonic() + 60   # generous: a loaded CI machine is slow
            while sc.scorer.version == first and time.monotonic() < deadline:
                extra += 1
                await p.send(settings.topic("score.requests"), orjson.dumps(
                    {**request(i), "request_id": f"during{extra}"}))
                await asyncio.sleep(0.01)
            second = sc.scorer.version
    await p.stop()
    got = await collect(settings, 300 + extra)
    assert set(got) == {f"r{i}" for i in range(300)} | {f"during{j + 1}" for j in range(extra)}
    assert all(len(v) == 1 for v in got.values())            # nothing answered twice
    assert second != first
    assert got["r0"][0]["model_version"] == first
    assert got["r299"][0]["model_version"] == second


async def test_bad_requests_go_to_the_dlq(settings, scorer, caplog):
    caplog.set_level("WARNING", logger="streamrec.streams.scorer")
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker)
    await p.start()
    await p.send(settings.topic("score.requests"), b'{"request_id": "x", "sequence": 5}')
    await p.send(settings.topic("score.requests"), orjson.dumps(request(1)))
    await p.stop()
    await collect(settings, 1)
    c = AIOKafkaConsumer(settings.topic("events.dlq"), bootstrap_servers=settings.kafka.broker,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    try:
        async with asyncio.timeout(20):
            found = []
            while not found:
                for msgs in (await c.getmany(timeout_ms=200)).values():
                    found += [orjson.loads(m.value) for m in msgs]
    finally:
        await c.stop()
    assert "field 'sequence' must be a list" in found[0]["reason"]
    logged = [r for r in caplog.records if r.getMessage().startswith("rejected ")]
    assert len(logged) == 1           # and the log line says where it came from, and why
    r = logged[0]
    assert (r.topic, r.partition, r.offset) == (found[0]["topic"], found[0]["partition"],
                                                found[0]["offset"])
    assert r.reason == found[0]["reason"]


@pytest.mark.parametrize("backend", ["redis", "cluster"])
async def test_catalog_titles_become_content_candidates(settings, tmp_path, backend, request):
    from streamrec.models.events import CatalogChange
    from streamrec.streams.worker.processor import Message, Processor

    if backend == "cluster":   # the scorer's cs:{item} rows go to their items' buckets
        settings = settings.replace(redis_url=request.getfixturevalue("redis_cluster").url,
                                    redis_cluster=True)

    await ensure_topics(settings, ("score.requests", "score.results", "events.dlq",
                                   "catalog.updates"))
    make_model(tmp_path, seed=1)
    sc = Scorer(settings, tmp_path, device="cpu", embed_catalog=True, content_neighbours=5)
    task = asyncio.create_task(sc.run())
    titles = {"1": "Toy Story (1995)", "2": "Toy Story 2 (1999)", "3": "Heat (1995)",
              "4": "Schindler's List (1993)", "5": "Casino (1995)"}
    try:
        p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker)
        await p.start()
        for i, t in titles.items():
            await p.send(settings.topic("catalog.updates"), key=i.encode(),
                         value=orjson.dumps({"item_id": i, "title": t, "stock": 3}))
        await p.stop()
        async with settings.open_store() as store:
            await store.apply_catalog([CatalogChange(i, stock=3) for i in titles])
            deadline = time.monotonic() + 60
            while sc.embedded < len(titles):
                assert time.monotonic() < deadline, "catalog was not embedded"
                await asyncio.sleep(0.1)
            top = await store.client.zrevrange(store.key("cs:1"), 0, 0)
            assert top == ["2"]
            # a user who viewed Toy Story gets its sequel although nobody co-viewed them
            proc = Processor(settings.replace(trending_weight=0.0), store, MemoryUsers(),
                             lambda *a: asyncio.sleep(0))
            await proc.process_events([Message(settings.topic("events.view"), 0, 0, b"u",
                                               orjson.dumps({"event_id": "e", "user_id": "u",
                                                             "item_id": "1", "ts": 1.0}),
                                               time.time())])
            rec = (await store.read_rec("u", 5))[0]
            assert rec["items"][0]["item_id"] == "2"
            # the embeddings reach the worker's diversity re-ranker
            vecs = await store.embeddings(list(titles))
            assert set(vecs) == set(titles) and vecs["1"].shape == (384,)
            assert float(vecs["1"] @ vecs["2"]) > float(vecs["1"] @ vecs["4"])
    finally:
        sc.stop()
        await asyncio.wait_for(task, 30)


async def test_each_worker_reads_only_its_reply_partition(settings, scorer):
    """Answers go to the partition of score.results that the request names; each client
    reads only that partition and gets every answer to its own requests."""
    import zlib

    from aiokafka import TopicPartition

    from streamrec.streams.worker.scoring_client import ScoringClient
    prefixes = {}
    for n in range(200):       # two client ids that pick different partitions (of 4)
        prefixes.setdefault(zlib.crc32(f"c{n:07d}:".encode()) % settings.kafka.partitions,
                            f"c{n:07d}:")
    a, b = ScoringClient(settings), ScoringClient(settings)
    a._prefix, b._prefix = list(prefixes.values())[:2]
    await a.start()
    await b.start()
    try:
        assert a.reply_partition != b.reply_partition
        topic = settings.topic("score.results")
        for c in (a, b):
            assert c._consumer.assignment() == {TopicPartition(topic, c.reply_partition)}
        reqs = {f"u{i}": (request(i)["sequence"], request(i)["candidates"]) for i in range(12)}
        got_a, got_b = await asyncio.gather(a.score(reqs, 30.0), b.score(reqs, 30.0))
        assert all(r is not None and "scores" in r for r in [*got_a.values(), *got_b.values()])
        assert a.timed_out == b.timed_out == 0 and a.answered == b.answered == 12
    finally:
        await a.stop()
        await b.stop()
    # on the topic: every answer sits on its asker's partition
    c = AIOKafkaConsumer(bootstrap_servers=settings.kafka.broker, group_id=None)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        ends = await c.end_offsets(tps)
        seen = 0
        async with asyncio.timeout(30):
            while any([await c.position(tp) < ends[tp] for tp in tps]):
                for tp, msgs in (await c.getmany(timeout_ms=200)).items():
                    for m in msgs:
                        rid = orjson.loads(m.value)["request_id"]
                        for client in (a, b):
                            if rid.startswith(client._prefix):
                                assert tp.partition == client.reply_partition, rid
                                seen += 1
        assert seen == 24
    finally:
        await c.stop()
