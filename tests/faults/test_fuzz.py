"""Fuzzing the worker's batch path: 100,000 seeded mutations of valid events, with 10,000
valid events between them, through a Processor over a real Redis. Nothing escapes, every
message is accounted for once (applied, in the DLQ, or a dropped duplicate) and every
valid event is applied. A hypothesis property test covers the decoder on its own."""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamrec.models.events import Interaction
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.validate import Rejection, parse_interaction
from streamrec.streams.worker.processor import Message, Processor

MUTATED, VALID, BATCH = 100_000, 10_000, 500
ITEMS = [str(i) for i in range(200)]
NOW = 1.8e9
ODD = [None, True, -1, 0, 1e308, -1e308, 1e11, 1.7e12, 4e9, "", "x" * 300, "\u0000", [],
       {}, [1, 2], {"a": 1}, 2**63 - 1, "NaN", "1e999", -0.0, 3.5]


def valid(rng: random.Random, n: int) -> dict[str, Any]:
    kind = rng.choice(["view", "click", "purchase"])
    ev = {"event_id": f"v{n}", "type": kind, "user_id": f"u{rng.randrange(300)}",
          "item_id": rng.choice(ITEMS), "ts": 1.7e9 + n}
    if kind == "purchase":
        ev.update(price=rng.uniform(0.5, 99.0), quantity=rng.randint(1, 5))
    if kind != "view" and rng.random() < 0.3:
        ev["rec_id"] = f"imp{rng.randrange(50)}"
    return ev


def mutate(rng: random.Random, n: int) -> bytes:
    ev = valid(rng, n)
    ev["event_id"] = f"m{n}"
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        key = rng.choice(list(ev) + ["quantity", "price", "session_id", "extra"])
        if op == 0:
            ev.pop(key, None)
        elif op == 1:
            ev[key] = rng.choice(ODD)
        elif op == 2:
            ev["item_id"] = rng.choice(["nope", "", "0" * 257, rng.choice(ITEMS)])
        elif op == 3:
            ev["type"] = rng.choice(["wishlist", None, 7, "view", "purchase"])
        elif op == 4:
            ev["event_id"] = f"v{rng.randrange(max(1, n // 11))}"   # a valid one's id
    raw = orjson.dumps(ev, option=orjson.OPT_NON_STR_KEYS)
    cut = rng.random()
    if cut < 0.05:
        raw = raw[: rng.randrange(len(raw))]
    elif cut < 0.10:
        b = bytearray(raw)
        b[rng.randrange(len(b))] = rng.randrange(256)
        raw = bytes(b)
    elif cut < 0.12:
        raw = rng.choice([b"", b"[]", b"null", b"\xff\xfe", b"{}" * 9000])
    return raw


@pytest.mark.integration
@pytest.mark.faults
async def test_fuzzed_events_are_all_accounted_for(redis_settings):
    s = redis_settings.replace(unknown_item_wait_ms=0, dedup_window=1_000_000,
                               river_weight=0.0, learned_ranker=False, k=5)
    rng = random.Random(2026)
    payloads: list[bytes] = []
    for n in range(MUTATED + VALID):
        payloads.append(orjson.dumps(valid(rng, n)) if n % 11 == 0 else mutate(rng, n))
    n_valid = sum(1 for n in range(MUTATED + VALID) if n % 11 == 0)
    msgs = [Message(s.topic("events"), 0, off, b"k", p, time.time())
            for off, p in enumerate(payloads)]
    dead: list[bytes] = []

    async def sink(topic, key, value):
        if topic == s.topic("events.dlq"):
            dead.append(value)

    logging.getLogger("streamrec.streams.worker.processor").setLevel(logging.ERROR)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        from streamrec.models.events import CatalogChange
        await store.apply_catalog([CatalogChange(i, stock=5, price=2.0) for i in ITEMS])
        proc = Processor(s, store, MemoryUsers(), sink)
        for start in range(0, len(msgs), BATCH):
            await proc.process_events(msgs[start:start + BATCH])
        m, _, _ = await store.read_metrics()
        field = f"{s.topic('events')}:0"
        ids = [f"v{n}" for n in range(0, MUTATED + VALID, 11)]
        applied = await store.client.zmscore(store.key("ids:" + field), ids)
    total = m.get("events_total", 0) + m.get("dlq_total", 0) + m.get("duplicates_total", 0)
    print(f"fuzz: {len(msgs)} messages -> events {m.get('events_total', 0):.0f}, "
          f"DLQ {m.get('dlq_total', 0):.0f}, duplicates {m.get('duplicates_total', 0):.0f}")
    assert total == len(msgs)                         # each accounted for exactly once
    assert len(dead) == m["dlq_total"]                # the counter equals what was sent
    assert all(a is not None for a in applied)        # every valid event applied
    assert m["events_total"] >= n_valid
    crashed = [d for d in map(orjson.loads, dead) if d["reason"].startswith("error while")]
    assert not crashed, crashed[:3]                   # rejected by rules, not by a crash


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)
event_like = st.fixed_dictionaries({}, optional={
    k: json_values for k in ("event_id", "type", "user_id", "item_id", "ts", "price",
                             "quantity", "rec_id", "session_id")})


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(event_like, st.sampled_from([None, "view", "click", "purchase"]))
def test_decoder_never_raises_and_only_passes_sane_events(d, kind):
    got = parse_interaction(orjson.dumps(d), kind, now=NOW, max_future_s=86400)
    if isinstance(got, Rejection):
        assert got.reason
        return
    assert isinstance(got, Interaction)
    assert 0 <= got.ts <= NOW + 86400 and math.isfinite(got.ts)
    assert got.price is None or 0 <= got.price <= 1e9
    assert 1 <= got.quantity <= 1_000_000
    assert all(isinstance(x, str) and 0 < len(x) <= 256
               for x in (got.event_id, got.user_id, got.item_id))
