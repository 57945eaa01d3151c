"""The Redis store's ingest script over a real redis-server: co-visitation counts and cap."""

from __future__ import annotations

import orjson
import pytest

from streamrec.models.covisit import CoVisitation, pairs_for, partners
from streamrec.state.redis_store import RedisStore

pytestmark = pytest.mark.integration


async def test_covisitation_accumulates_and_is_trimmed_to_its_cap(redis_settings):
    s = redis_settings
    async with RedisStore(s.redis_url, s.redis_prefix, covisit_cap=10) as store:
        # "a" co-visited with 30 items: x{i} viewed after a, weight i / 100; then x29 again
        events = [(f"e{i}", f"x{i}", 1.0 + i, ["a"], i / 100.0) for i in range(30)]
        assert await store.ingest(events) == [True] * 30
        await store.ingest([("again", "x29", 40.0, ["a"], 0.5)])
        assert await store.ingest(events[:3]) == [False] * 3         # duplicates: no effect
        top = await store.client.zrevrange(store.key("cv:a"), 0, -1, withscores=True)
        assert 10 <= len(top) <= 20                                  # trimmed past 2 x cap
        assert top[0] == ("x29", pytest.approx(0.79))               # 0.29 + 0.5 accumulated
        assert [i for i, _ in top[1:3]] == ["x28", "x27"]            # the heaviest are kept
        assert {f"x{i}" for i in range(0, 10)}.isdisjoint(i for i, _ in top)


async def test_covisits_added_apart_from_ingest_count_the_same(redis_settings):
    """The worker ingests events without their pairs (dedup + trending) and adds the pairs
    of fresh events after its lists are out: the rows end up as one ingest would leave them."""
    s = redis_settings
    events = [(f"e{i}", f"x{i % 12}", 1.0 + i,
               partners(f"x{i % 12}", [f"x{(i * 5 + d) % 12}" for d in (1, 2, 3, 4)], 3),
               (i % 5 + 1) / 10) for i in range(60)]
    rows = []
    for name in ("together", "apart"):
        async with RedisStore(s.redis_url, s.redis_prefix + name + ":", covisit_cap=3) as st:
            if name == "together":
                await st.ingest(events)
            else:
                fresh = await st.ingest([(e, i, t, [], 1.0) for e, i, t, _, _ in events])
                await st.add_covisits([(i, ps, sc) for new, (_, i, _, ps, sc)
                                       in zip(fresh, events, strict=True) if new])
            rows.append({k: await st.client.zrevrange(st.key(f"cv:x{k}"), 0, -1,
                                                      withscores=True) for k in range(12)})
    assert rows[0] == rows[1]
    assert all(3 <= len(r) <= 6 for r in rows[0].values())      # capped the same way
    assert sum(len(r) for r in rows[0].values()) >= 3 * 12     # every row reached it


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
    async with RedisStore(s.redis_url, s.redis_prefix + "expand:", covisit_cap=1000) as st:
        await st.add_covisits(visits[:150], backward=0.5)
        await st.add_covisits(visits[150:], backward=0.5)
        for i in items:
            got = dict(await st.client.zrevrange(st.key(f"cv:{i}"), 0, -1, withscores=True))
            assert got == pytest.approx(dict(mem.neighbours(i, 100)), rel=1e-12), i


async def test_ingest_and_read_is_one_call_for_lists_dedup_trending_and_candidates(
        redis_settings):
    """The worker's one round trip per batch, also after Redis forgot its scripts."""
    s = redis_settings
    async with RedisStore(s.redis_url, s.redis_prefix + "one:") as st:
        await st.ingest([("e0", "a", 1.0, ["b"], 1.0)])
        await st.write_recs({"u": orjson.dumps({"items": [{"item_id": "b", "score": 1.0}]})})
        fresh, lists, cands = await st.ingest_and_read(
            [("e0", "a", 1.0), ("e1", "c", 2.0)], ["u", "nobody"], ["a"], 10, 5)
        assert fresh == [False, True] and lists == {"u": ["b"]}
        assert cands.covis == {"a": [("b", 1.0)]} and {i for i, _ in cands.trending} == {"a", "c"}
        await st.client.script_flush()
        fresh, _, none = await st.ingest_and_read([("e2", "c", 3.0)], [], None)
        assert fresh == [True] and none is None


async def test_write_batch_is_one_call_for_states_lists_and_metrics(redis_settings):
    """A batch's writes in one pipeline: user states, lists and the metrics script, also
    after Redis forgot its scripts (the sets rerun, the counters count once)."""
    s = redis_settings
    async with RedisStore(s.redis_url, s.redis_prefix + "wb:") as st:
        payload = st.metrics_payload(events=3, dlq=0, recs=1, catalog=0, latencies_ms=[4.0],
                                     worker="w", worker_info={"lag": 0})
        await st.write_batch({"u": b'{"items":[]}'}, {"u": b'{"r":["a"]}'}, payload)
        await st.client.script_flush()
        await st.write_batch({"u": b'{"items":[1]}'}, {"v": b"{}"}, payload)
        assert await st.client.get(st.key("rec:u")) == '{"items":[1]}'
        assert await st.user_states(["u", "v", "w"]) == ['{"r":["a"]}', "{}", None]
        m, lat, workers = await st.read_metrics()
        assert m["events_total"] == 6 and m["latency_count"] == 2 and lat == {"5": 2}
        assert set(workers) == {"w"}


async def test_record_batch_adds_counters_sums_curve_and_served_items(redis_settings):
    """One batch's metrics in one script call: counters and float sums add up across
    batches to full precision, the latency histogram and curve are kept, and the served
    items (more than one PFADD chunk) are counted once each."""
    from streamrec.models.prequential import Tally
    s = redis_settings
    served = [f"i{n}" for n in range(2500)]
    async with RedisStore(s.redis_url, s.redis_prefix + "metrics:") as store:
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
