"""Each class of bad input that crashed the worker or did lasting harm, through a real
worker: every message is applied or in the DLQ (the counter equals the topic), none is
lost, the worker stays up and the valid neighbours are applied."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.streams.tools.replay import Producer
from tests.conftest import eventually
from tests.integration.test_worker import ev, load_catalog, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_each_class_of_bad_input_is_quarantined_or_applied(settings, worker_factory):
    worker = worker_factory()
    huge = orjson.dumps(ev("big", "u", "1", 5.0, session_id="s" * 800_000))   # 800 KB
    to_dlq = [
        ("events.view", huge, "oversized payload"),
        ("events.view", orjson.dumps(ev("fut", "u", "2", 4e9)), "ahead of now"),
        ("events.purchase", orjson.dumps(ev("inf", "u", "3", 6.0, price=1e308, quantity=10,
                                            rec_id="imp-1")), "must be a number <= 1000000000.0"),
        ("events.view", orjson.dumps(ev("us", "u", "3", 1.7e15)), "ahead of now"),
    ]
    applied = [   # millisecond timestamps (1e11 crashed covisit.time_weight): converted
        ("events.view", orjson.dumps(ev("ms1", "u", "4", 1e11))),
        ("events.view", orjson.dumps(ev("ms2", "u", "5", 1.7e12))),
        ("events.view", orjson.dumps(ev("ok1", "u", "6", 1.7e9 + 5))),
    ]
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer:
        await load_catalog(settings, store, producer)
        await producer.send("events.view", "u", ev("first", "u", "7", 1.7e9))
        await producer.flush()

        async def t0():
            return await store.client.get(store.key("pop:t0"))
        before = await eventually(t0)
        for topic, payload, _ in to_dlq:
            await producer.send(topic, "u", payload)
        for topic, payload in applied:
            await producer.send(topic, "u", payload)
        await producer.flush()

        async def all_counted():
            m, _, _ = await store.read_metrics()
            return m if m.get("dlq_total", 0) >= len(to_dlq) and \
                m.get("events_total", 0) >= 1 + len(applied) else None
        m = await eventually(all_counted, 60)
        assert (m["events_total"], m["dlq_total"]) == (1 + len(applied), len(to_dlq))
        letters = [orjson.loads(r.value) for r in
                   await read_topic(settings, "events.dlq", len(to_dlq))]
        assert len(letters) == m["dlq_total"]          # the counter equals the topic
        for _, payload, reason in to_dlq:
            sha = hashlib.sha256(payload).hexdigest()
            match = [d for d in letters if d["value_sha256"] == sha]
            assert match and reason in match[0]["reason"], reason
        big = next(d for d in letters if d["value_size"] == len(huge))
        assert big["truncated"] and len(base64.b64decode(big["value_b64"])) < len(huge)
        assert await t0() == before                     # the future event moved nothing
        state = orjson.loads(await store.client.get(store.key("user:u")))
        assert set(state["r"]) == {"4", "5", "6", "7"}
        assert worker.poll() is None
