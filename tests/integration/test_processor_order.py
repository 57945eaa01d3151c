"""Serving order: lists are written before the batch's co-visitation pairs are added, and
the pairs still land exactly once (the processor over a real redis-server, no broker)."""

from __future__ import annotations

import orjson
import pytest

from streamrec.models.covisit import EPOCH
from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.tools.evaluation import Evaluation, Plan
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration

CATALOG = [{"item_id": str(i), "category": "c", "price": 1.0, "stock": 5} for i in range(10)]


async def _sink(*args: object) -> None:
    pass


def _msgs(s, events):
    return [Message(s.topic("events"), 0, next_offset(), u.encode(),
                    orjson.dumps({"event_id": e, "user_id": u, "item_id": i, "ts": t,
                                  "type": "view"}), 0.0)
            for e, u, i, t in events]


async def _rows(store):
    return {i: await store.client.zrevrange(store.key(f"cv:{i}"), 0, -1, withscores=True)
            for i in map(str, range(10))}


@pytest.mark.parametrize("exact", [False, True])
async def test_pairs_land_once_in_either_order(redis_settings, exact):
    s = redis_settings.replace(redis_prefix=f"{redis_settings.redis.redis_prefix}{exact}:",
                               candidate_cache_ms=0)
    # user a: 0 -> 1 -> 2; user b: 1 -> 2 -> 3, one batch (seconds apart: the time weight
    # of the pairs, EPOCH-based, is 1 up to a few 1e-8)
    events = [(e, u, i, EPOCH + t) for e, u, i, t in [
        ("a1", "a", "0", 1.0), ("b1", "b", "1", 1.5), ("a2", "a", "1", 2.0),
        ("b2", "b", "2", 2.5), ("a3", "a", "2", 3.0), ("b3", "b", "3", 3.5)]]
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(**c) for c in CATALOG])
        proc = Processor(s, store, MemoryUsers(), _sink,
                         evaluation=Evaluation(Plan()) if exact else None)
        batch = _msgs(s, events)
        await proc.process_events(batch)
        rows = await _rows(store)
        # forward pairs weigh 1 for the previous item (recency decay applies further back),
        # backward pairs covisit_backward times that
        assert dict(rows["1"])["2"] == pytest.approx(2.0)            # a and b: 1 -> 2
        assert dict(rows["2"])["1"] == pytest.approx(2 * s.ranking.covisit_backward)
        assert "3" in dict(rows["2"]) and "0" in dict(rows["1"])
        again = Processor(s, store, MemoryUsers(), _sink)
        assert await again.process_events(batch) == 0              # replayed: same offsets
        assert await _rows(store) == rows                           # nothing added twice
        # the next event of a new user meets the pairs: c views 1, gets 2 (and 0) first
        await proc.process_events(_msgs(s, [("c1", "c", "1", EPOCH + 9.0)]))
        top = (await store.read_recs(["c"]))["c"]
        assert top[0] == "2"


@pytest.mark.parametrize("half_life", [0.0, 365 * 86400.0])
async def test_newer_pairs_weigh_more(redis_settings, half_life):
    """a: 0 -> 1, then a half-life later b: 0 -> 2: with the time weight, 2 is twice as
    strong a neighbour of 0 as 1; without it they tie (and 1 comes first by id)."""
    s = redis_settings.replace(redis_prefix=f"{redis_settings.redis.redis_prefix}{half_life}:",
                               covisit_half_life_s=half_life, candidate_cache_ms=0,
                               learned_ranker=False, trending_weight=0.0)
    t = EPOCH + 86400.0
    later = t + half_life if half_life else t + 1e7
    events = [("a1", "a", "0", t), ("a2", "a", "1", t + 1),
              ("b1", "b", "0", later), ("b2", "b", "2", later + 1)]
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(**c) for c in CATALOG])
        proc = Processor(s, store, MemoryUsers(), _sink)
        await proc.process_events(_msgs(s, events))
        row = dict(await store.client.zrevrange(store.key("cv:0"), 0, -1, withscores=True))
        ratio = row["2"] / row["1"]
        assert ratio == pytest.approx(2.0 if half_life else 1.0, rel=1e-4)
        await proc.process_events(_msgs(s, [("c1", "c", "0", later + 5)]))
        top = (await store.read_recs(["c"]))["c"]
        assert top[:2] == (["2", "1"] if half_life else ["1", "2"])
