"""The worker over a real broker and a real Redis: DLQ, recommendations, restarts."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streamrec.models.covisit import time_weight
from streamrec.state.redis_store import RedisStore
from streamrec.streams.tools.replay import Producer, replay_events
from tests.conftest import eventually

pytestmark = pytest.mark.integration

CATALOG = [{"item_id": str(i), "title": f"item {i}", "category": "c", "price": 5.0,
            "stock": 10} for i in range(1, 21)]


def ev(eid, user, item, ts, **kw):
    return {"event_id": eid, "user_id": user, "item_id": item, "ts": ts, **kw}


async def load_catalog(settings, store, producer):
    for item in CATALOG:
        await producer.send("catalog.updates", item["item_id"], item)
    await producer.flush()

    async def loaded():
        m, _, _ = await store.read_metrics()
        return m.get("catalog_total", 0) >= len(CATALOG)
    await eventually(loaded, 60)


async def read_topic(settings, topic, n, timeout=30.0):
    c = AIOKafkaConsumer(settings.topic(topic), bootstrap_servers=settings.kafka.broker,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    out = []
    try:
        async with asyncio.timeout(timeout):
            while len(out) < n:
                batch = await c.getmany(timeout_ms=500)
                for msgs in batch.values():
                    out += msgs
    finally:
        await c.stop()
    return out


async def test_bad_input_goes_to_dlq_and_worker_keeps_running(settings, worker_factory):
    worker_factory()
    bad = [
        ("events.view", b"{not json", "malformed JSON"),
        ("events.view", orjson.dumps({"event_id": "x", "user_id": "u"}), "missing field"),
        ("events.click", orjson.dumps(ev("x2", "u", "1", "noon")), "must be a number"),
        ("events.view", orjson.dumps(ev("x3", "u", "1", 1.0, type="wishlist")),
         "unknown value"),
        ("events.purchase", orjson.dumps(ev("x4", "u", "1", 1.0, price=-9.5)),
         "field 'price' must be a number >= 0.0"),
        ("events.view", orjson.dumps(ev("x5", "u", "1", 1.0, session_id="s" * 20000)),
         "oversized payload"),
        ("events.view", orjson.dumps(ev("x6", "u", "nope", 1.0)), "unknown item 'nope'"),
        ("events", orjson.dumps(ev("x7", "u", "1", 1.0)), "missing field 'type'"),
        ("catalog.updates", orjson.dumps({"item_id": "1", "stock": -4}), "field 'stock'"),
    ]
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        for topic, payload, _ in bad:
            await producer.send(topic, "u", payload)
        await producer.send("events.view", "u", ev("ok1", "u", "3", 5.0))
        await producer.flush()
        dlq = await read_topic(settings, "events.dlq", len(bad))
        letters = [orjson.loads(m.value) for m in dlq]
        for topic, payload, reason in bad:
            match = [d for d in letters if base64.b64decode(d["value_b64"]) == payload]
            assert match, f"{reason}: not in the DLQ"
            assert reason in match[0]["reason"], match[0]["reason"]
            assert match[0]["topic"] == settings.topic(topic)
            assert match[0]["offset"] >= 0 and match[0]["partition"] in (0, 1)

        async def good_event_served():  # the worker kept running after the bad input
            rec = (await store.read_rec("u", 5))[0]
            m, _, _ = await store.read_metrics()
            return rec and m.get("dlq_total") == len(bad) and m.get("events_total") == 1
        await eventually(good_event_served)


async def test_recommendations_follow_co_visitation_and_skip_seen(settings, worker_factory):
    worker_factory()
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        # many users view 1 then 2; user "me" views 1 only
        t = 1000.0
        for u in range(8):
            await producer.send("events.view", f"o{u}", ev(f"a{u}", f"o{u}", "1", t))
            await producer.send("events.view", f"o{u}", ev(f"b{u}", f"o{u}", "2", t + 1))
        await producer.send("events.view", "o9", ev("z", "o9", "7", t))
        await producer.flush()

        async def counted():
            m, _, _ = await store.read_metrics()
            return m.get("events_total", 0) >= 17
        await eventually(counted)
        # the worker reports how far behind it is on each partition it read: none, now
        topic = settings.topic("events.view")
        fed = {m.partition for m in await read_topic(settings, "events.view", 17)}

        async def caught_up():
            _, _, workers = await store.read_metrics()
            lags = {tp: n for info in workers.values()
                    for tp, n in (info.get("partitions") or {}).items()}
            return {f"{topic}:{p}" for p in fed} <= {tp for tp, n in lags.items() if n == 0}
        await eventually(caught_up)
        await producer.send("events.view", "me", ev("m1", "me", "1", t + 5))
        await producer.flush()

        async def rec():
            return (await store.read_rec("me", 5))[0]
        r = await eventually(rec)
        items = [i["item_id"] for i in r["items"]]
        assert items[0] == "2"            # co-visited with what "me" just viewed
        assert "1" not in items           # already seen
        assert r["policy"] and r["model_version"] and len(r["impression_id"]) == 32
        # published to the recommendations topic too
        msgs = await read_topic(settings, "recommendations", 1)
        assert any(m.key == b"me" for m in msgs) or msgs


async def test_duplicates_count_once(settings, worker_factory):
    worker_factory()
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        for _ in range(3):  # the same two events delivered three times
            await producer.send("events.view", "u", ev("d1", "u", "1", 10.0))
            await producer.send("events.view", "u", ev("d2", "u", "2", 11.0))
        await producer.send("events.view", "v", ev("d3", "v", "3", 12.0))
        await producer.flush()

        async def done():
            return (await store.read_rec("v", 5))[0]
        await eventually(done)
        m, _, _ = await store.read_metrics()
        assert m["events_total"] == 3
        pair = await store.client.zscore(store.key("cv:1"), "2")
        # once
        assert pair == pytest.approx(time_weight(11.0, settings.ranking.covisit_half_life_s))


async def test_user_state_survives_worker_restart(settings, worker_factory):
    w = worker_factory()
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        await producer.send("events.view", "u", ev("r1", "u", "1", 10.0))
        await producer.send("events.view", "u", ev("r2", "u", "2", 11.0))
        await producer.send("events.view", "o", ev("o1", "o", "2", 11.0))
        await producer.send("events.view", "o", ev("o2", "o", "4", 12.0))
        await producer.flush()

        async def first():
            r = (await store.read_rec("u", 5))[0]
            return r if r and r["event_ts"] else None
        await eventually(first)

        async def all_four():
            m, _, _ = await store.read_metrics()
            return m.get("events_total") == 4
        await eventually(all_four)
        from streamrec.streams.dev.demo import stop_worker
        stop_worker(w)
        worker_factory()
        await producer.send("events.view", "u", ev("r3", "u", "3", 12.0))
        await producer.flush()

        async def third_applied():
            m, _, _ = await store.read_metrics()
            return m.get("events_total") == 5
        await eventually(third_applied, 60)
        # the restarted worker knew u's history: item 3 was paired with 2 and 1 (forward
        # pairs 2 -> 3 and 1 -> 3 weigh 1 and 1/2, backward ones half that, times the
        # time weight of the event)
        tw = time_weight(12.0, settings.ranking.covisit_half_life_s)
        assert await store.client.zscore(store.key("cv:2"), "3") == pytest.approx(tw)
        assert await store.client.zscore(store.key("cv:1"), "3") == pytest.approx(0.5 * tw)
        assert await store.client.zscore(store.key("cv:3"), "2") == pytest.approx(0.5 * tw)

        async def rec_after_restart():
            r = (await store.read_rec("u", 50))[0]
            return r if r and r["items"] else None  # written in the batch counted above
        r = await eventually(rec_after_restart)
        items = [i["item_id"] for i in r["items"]]
        assert items[0] == "4"                  # co-visited with u's restored history
        assert not set(items) & {"1", "2", "3"}  # restored "seen" set


async def test_mixed_events_topic_keeps_order_and_types(settings, worker_factory):
    """All kinds on the one ``events`` topic: read back in the order sent (per key), and the
    worker takes each event's kind from its ``type`` (with seen items allowed, a bought item
    is still excluded from lists)."""
    worker_factory(settings.replace(exclude_seen=False))
    kinds = ["view", "click", "purchase", "view", "view", "click"]
    events = [(k, ev(f"mx{n}", "mix", str(n + 1), 100.0 + n)) for n, k in enumerate(kinds)]
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        # others: 3 goes with 9 (the purchase of 3 must not leave 3 on "mix"'s list)
        for u in range(4):
            await producer.send("events", f"o{u}", ev(f"o{u}a", f"o{u}", "3", 10.0, type="view"))
            await producer.send("events", f"o{u}", ev(f"o{u}b", f"o{u}", "9", 11.0, type="view"))
        await producer.flush()
        assert await replay_events(producer, events, 0, mixed=True) == len(events)
        got = [orjson.loads(m.value) for m in await read_topic(settings, "events", 14)
               if m.key == b"mix"]
        assert [(d["type"], d["event_id"]) for d in got] == \
            [(k, e["event_id"]) for k, e in events]

        async def processed():
            m, _, _ = await store.read_metrics()
            rec = (await store.read_rec("mix", 20))[0]
            return rec if m.get("events_total", 0) >= 14 and rec else None
        rec = await eventually(processed)
        items = [i["item_id"] for i in rec["items"]]
        assert "3" not in items                     # bought: out
        assert {"1", "9"} <= set(items)             # viewed (allowed here), and 3's neighbour
