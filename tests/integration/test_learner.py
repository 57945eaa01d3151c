"""The single-writer learner over a real broker and Redis: snapshots, restart, serving."""

from __future__ import annotations

import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.state import snapshots
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.learner import Learner
from streamrec.streams.tools.replay import Producer
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import metric, next_offset

pytestmark = pytest.mark.integration


def ev(n, user, item, kind="view"):
    return {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": float(n)}


async def produce(settings, events):
    async with Producer(settings) as p:
        for kind, e in events:
            await p.send(f"events.{kind}", e["user_id"], e)
        await p.flush()


@pytest.mark.parametrize("backend", ["redis", "cluster"])
async def test_restart_resumes_from_the_snapshot_without_loss_or_double_learning(settings,
                                                                                 backend,
                                                                                 request):
    if backend == "cluster":    # the learner's keys (snapshot, version, heartbeat) there
        settings = settings.replace(redis_url=request.getfixturevalue("redis_cluster").url,
                                    redis_cluster=True)
    first = [("view", ev(n, f"u{n % 5}", str(n % 11))) for n in range(300)]
    first += [("click", ev(1000 + n, f"u{n % 5}", str(n % 11))) for n in range(0, 300, 7)]
    await produce(settings, first)
    a = Learner(settings, snapshot_every=100)
    await a.run(until_idle_s=1.5)
    assert a.model.events == len(first) and a.version >= 3
    more = [("view", ev(n, f"u{n % 5}", str(n % 11))) for n in range(300, 420)]
    await produce(settings, more)
    b = Learner(settings, snapshot_every=100)        # a restart: restore + replay the rest
    await b.run(until_idle_s=1.5)
    assert b.model.events == len(first) + len(more)  # nothing lost, nothing twice
    assert b.model.mf.n_learned == 420 and b.version > a.version
    # the snapshot a worker reads scores exactly like the learner's live model
    async with settings.open_store() as store:
        snap = snapshots.loads(await store.get_bytes("model:snapshot"),
                               settings.serving.snapshot_key.get_secret_value())
    items = [str(i) for i in range(11)]
    assert list(snap["model"].score("u1", items, 1.0)) == list(b.model.score("u1", items, 1.0))
    # the prequential CTR metrics reach the API's /metrics
    import aiohttp

    from streamrec.streams.api.server import start_api
    runner, url = await start_api(settings.replace(api_port=0))
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
            text = await r.text()
    finally:
        await runner.cleanup()
    assert metric(text, "streamrec_model_snapshot_version") == b.version
    # its lag on each partition it read (after the restart: views only), none once caught up
    fed = {tp for tp in b.partition_lag if tp.startswith(settings.topic("events."))}
    assert {tp.rpartition(":")[0] for tp in fed} == {settings.topic("events.view")}
    for tp in fed:
        topic, _, partition = tp.rpartition(":")
        assert metric(text, "streamrec_consumer_partition_lag", worker="learner", topic=topic,
                      partition=partition) == 0
    assert "streamrec_model_ctr_auc " in text and "streamrec_model_ctr_logloss " in text


async def test_worker_lists_name_the_snapshot_that_scored_them(settings):
    history = [("view", ev(n, f"u{n % 4}", str(n % 9))) for n in range(200)]
    await produce(settings, history)
    learner = Learner(settings, snapshot_every=50)
    await learner.run(until_idle_s=1.5)
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(str(i), stock=3) for i in range(9)])

        async def sink(*a):
            pass
        proc = Processor(settings, store, MemoryUsers(), sink)
        await proc.process_events([Message(settings.topic("events.view"), 0, next_offset(),
                                           e["user_id"].encode(), orjson.dumps(e), time.time())
                                   for n, (_, e) in enumerate(history)])
        msgs = [Message(settings.topic("events.view"), 0, next_offset(), b"new", orjson.dumps(
            {"event_id": f"w{n}", "user_id": "new", "item_id": str(n), "ts": 500.0 + n}),
            time.time()) for n in range(2)]
        await proc.process_events(msgs)
        rec = (await store.read_rec("new", 20))[0]
    assert rec["model_version"] == f"blend-v1+river@{learner.version}"
    assert rec["items"] and not {"0", "1"} & {i["item_id"] for i in rec["items"]}
