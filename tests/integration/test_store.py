"""The Redis store over a real redis-server: the batch commit script (co-visitation counts
and cap, watermarks, atomicity), the batch read, metrics."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from streamrec.models.covisit import CoVisitation, pairs_for, partners
from streamrec.state.batch import BatchWrite, Fenced
from streamrec.state.redis_store import RedisStore
from tests.conftest import stored_list

pytestmark = pytest.mark.integration


async def test_covisitation_accumulates_and_is_trimmed_to_its_cap(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix, covisit_cap=10) as store:
        # "a" co-visited with 30 items: x{i} viewed after a, weight i / 100; then x29 again
        events = [(f"e{i}", f"x{i}", 1.0 + i, ["a"], i / 100.0) for i in range(30)]
        await store.ingest(events)
        await store.ingest([("again", "x29", 40.0, ["a"], 0.5)])
        top = await store.client.zrevrange(store.key("cv:a"), 0, -1, withscores=True)
        assert 10 <= len(top) <= 20                                  # trimmed past 2 x cap
        assert top[0] == ("x29", pytest.approx(0.79))               # 0.29 + 0.5 accumulated
        assert [i for i, _ in top[1:3]] == ["x28", "x27"]            # the heaviest are kept
        assert {f"x{i}" for i in range(0, 10)}.isdisjoint(i for i, _ in top)


async def test_commit_applies_once_per_watermark_and_fences_other_writers(redis_settings):
    """A batch commits with the watermarks it read: the same batch again (a replay after a
    crash, or a worker that lost the partition) changes nothing and raises Fenced."""
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix + "wm:") as st:
        def batch(seen, nxt):
            return BatchWrite(watermarks=[("events:0", seen, nxt)], trending=[("a", 10.0)],
                              visits=[("a", ["b"], 1.0)], sets={"user:u": b'{"r":["a"]}'},
                              metrics=st.metrics_payload(
                                  events=1, dlq=0, recs=0, catalog=0, latencies_ms=(),
                                  worker="w", worker_info={}))
        await st.commit(batch(-1, 5))
        assert await st.watermarks(["events:0", "events:1"]) == ({"events:0": 5}, {})
        with pytest.raises(Fenced, match="events:0"):
            await st.commit(batch(-1, 5))                    # replayed: already applied
        with pytest.raises(Fenced):
            await st.commit(batch(3, 6))                     # a stale view of the partition
        await st.client.script_flush()                       # Redis forgot its scripts
        await st.commit(batch(5, 9))
        m, _, _ = await st.read_metrics()
        assert m["events_total"] == 2
        assert await st.client.zscore(st.key("cv:b"), "a") == 2.0
        assert (await st.watermarks(["events:0"]))[0] == {"events:0": 9}


async def test_commit_checks_every_value_before_writing_any(redis_settings):
    """A non-finite number (orjson sends NaN as null) fails the script before its first
    write: Redis does not roll back a script that fails half-way."""
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix + "nan:") as st:
        w = BatchWrite(watermarks=[("events:0", -1, 2)], trending=[("a", 1.0)],
                       rewards=[("imp", "purchase", float("nan"))], sets={"user:u": b"{}"})
        with pytest.raises(ResponseError, match="reward value"):
            await st.commit(w)
        assert await st.client.keys(st.key("*")) == []


async def test_script_adds_what_pairs_for_gives(redis_settings):
    """Redis expands (item, partners, scale) visits into the increments of
    models.covisit.pairs_for: the rows match an in-memory CoVisitation fed its pairs."""
    import random
    rng = random.Random(7)
    s = redis_settings
    items = [f"i{n}" for n in range(15)]
    recent: list[str] = []
    visits, mem = [], CoVisitation(window=4, backward=0.5)
    for _ in range(300):
        item, scale = rng.choice(items), rng.choice([0.5, 1.0, 1.7])
        visits.append((item, partners(item, recent, 4), scale))
        mem.learn_pairs(pairs_for(item, recent, 4, backward=0.5, scale=scale))
        recent = [item] + [r for r in recent if r != item][:9]
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix + "expand:",
                          covisit_cap=1000) as st:
        await st.add_covisits(visits[:150], backward=0.5)
        await st.add_covisits(visits[150:], backward=0.5)
        for i in items:
            got = dict(await st.client.zrevrange(st.key(f"cv:{i}"), 0, -1, withscores=True))
            assert got == pytest.approx(dict(mem.neighbours(i, 100)), rel=1e-12), i


async def test_read_batch_is_one_call_for_lists_and_candidates(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix + "one:") as st:
        await st.ingest([("e0", "a", 1.0, ["b"], 1.0), ("e1", "c", 2.0, [], 1.0)])
        await st.write_recs({"u": stored_list("u", "b")})
        lists, cands = await st.read_batch(["u", "nobody"], ["a"], 10, 5)
        assert lists == {"u": ["b"]}
        assert cands.covis == {"a": [("b", 1.0)]} and {i for i, _ in cands.trending} == {"a", "c"}
        assert await st.read_batch([], None) == ({}, None)


async def test_record_batch_adds_counters_sums_curve_and_served_items(redis_settings):
    """One batch's metrics in one script call: counters and float sums add up across
    batches to full precision, the latency histogram and curve are kept, and the served
    items (more than one PFADD chunk) are counted once each."""
    from streamrec.models.prequential import Tally
    s = redis_settings
    served = [f"i{n}" for n in range(2500)]
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix + "metrics:") as store:
        for n in range(2):
            t = Tally(judged=3, hits=1, rr=1 / 3, ndcg_sum=0.1)
            await store.record_batch(
                events=7, dlq=n, recs=2, catalog=0, latencies_ms=[3.0, 40.0, 1e6],
                worker="w1", worker_info={"events_per_s": 5.0 + n}, served=served * 2,
                diversity=[0.5, 0.25], tally=t, curve={17: t, 18: Tally(1, 0, 0.0, 0.0)},
                ranked_lists=3, model_lists=n)
        m, lat, workers = await store.read_metrics()
        curve = await store.read_curve()
    assert (m["events_total"], m["dlq_total"], m["recs_total"]) == (14, 1, 4)
    assert (m["lists_ranked_total"], m["lists_model_total"]) == (6, 1)
    assert "catalog_total" not in m                        # zero counts are not written
    assert m["preq_judged"] == 6 and m["preq_hits"] == 2
    assert m["preq_rr"] == pytest.approx(2 / 3, abs=1e-15)
    assert m["latency_sum_ms"] == 2 * (43.0 + 1e6) and m["latency_count"] == 6
    assert m["ild_sum"] == 1.5 and m["ild_count"] == 4
    assert sum(lat.values()) == 6 and lat["+Inf"] == 2
    assert workers == {"w1": {"events_per_s": 6.0}}        # the latest batch's info
    assert abs(m["served_items"] - 2500) <= 2500 * 0.03     # HyperLogLog: ~1% error
    assert (curve[17].judged, curve[17].hits, curve[18].judged) == (6, 2, 2)
    assert curve[17].rr == pytest.approx(2 / 3, abs=1e-15)
