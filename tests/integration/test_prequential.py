"""Exact prequential mode: a whole batch judged as if each event were its own batch."""

from __future__ import annotations

import orjson
import pytest

from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.evaluation import Evaluation, Plan
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import next_offset

pytestmark = pytest.mark.integration


async def _sink(*args: object) -> None:
    pass


async def _feed(proc: Processor, events, batch: int) -> None:
    s = proc.settings
    for start in range(0, len(events), batch):
        msgs = [Message(s.topic(f"events.{kind}"), 0, next_offset(), e["user_id"].encode(),
                        orjson.dumps(e), 0.0)
                for kind, e in events[start:start + batch]]
        await proc.process_events(msgs)


async def _run(settings, prefix: str, warm, events, catalog, batch: int,
               plan: Plan | None = None) -> tuple[dict, dict, list[str]]:
    """Warm co-visitation up with other users (the same way every time), then feed one
    user's events in batches of ``batch``; returns the metrics and curve of that part and
    the user's final list."""
    s = settings.replace(redis_prefix=prefix, ranking="covisit")
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(catalog)
        await _feed(Processor(s, store, MemoryUsers(), _sink), warm, 500)
        before, _, _ = await store.read_metrics()
        await store.client.delete(store.key("preqc"))
        ev = Evaluation(plan) if plan is not None else None
        await _feed(Processor(s, store, MemoryUsers(), _sink, evaluation=ev), events, batch)
        m, _, _ = await store.read_metrics()
        final = (await store.read_recs(["1"]))["1"]
        return {k: v - before.get(k, 0.0) for k, v in m.items()}, await store.read_curve(), final


async def test_exact_batch_equals_event_by_event(redis_settings, data_dir):
    data = data_dir
    rows = read_ratings(data, 40)
    ratings = [r for r in rows if r[0] == "1"]                  # one user, in time order
    events = list(events_from_ratings(ratings))
    warm = list(events_from_ratings([r for r in rows if r[0] != "1"]))
    catalog = catalog_changes(read_catalog(data))
    p = redis_settings.redis.redis_prefix
    # evaluation order (counters before ranking) one event per batch, vs the whole burst
    # as one batch in exact mode
    strict = Plan()
    one, curve_one, final_one = await _run(redis_settings, p + "one:", warm, events, catalog,
                                           1, strict)
    exact, curve_exact, final_exact = await _run(redis_settings, p + "exact:", warm, events,
                                                 catalog, len(events), strict)
    batched, _, _ = await _run(redis_settings, p + "batched:", warm, events, catalog,
                          len(events))

    n_items = len(ratings)
    assert one["preq_judged"] == n_items - 1        # every rating but the first (no list yet)
    assert one["preq_hits"] > 0
    for name in ("preq_judged", "preq_hits", "preq_rr", "preq_ndcg"):
        assert exact[name] == pytest.approx(one[name]), name
    # one list per event vs only the batch's final list published, and it is the same list
    assert (one["recs_total"], exact["recs_total"]) == (len(events), 1)
    assert final_exact == final_one
    assert curve_exact.keys() == curve_one.keys()
    assert sum(t.judged for t in curve_exact.values()) == n_items - 1
    # without exact mode the whole burst meets the list from before it: nothing to judge
    assert batched.get("preq_judged", 0) == 0


async def test_events_before_judge_from_are_learned_from_not_judged(redis_settings, data_dir):
    """An evaluation's ``judge_from``: the events before it (e.g. what a transformer was trained
    on) are learned from as one ordinary run, the later ones judged exactly as event by
    event."""
    rows = read_ratings(data_dir, 40)
    ratings = [r for r in rows if r[0] == "1"]
    events = list(events_from_ratings(ratings))
    warm = list(events_from_ratings([r for r in rows if r[0] != "1"]))
    catalog = catalog_changes(read_catalog(data_dir))
    cut = sorted(r[3] for r in ratings)[len(ratings) // 2]
    late = sum(1 for r in ratings if r[3] >= cut)
    assert 0 < late < len(ratings)
    p = redis_settings.redis.redis_prefix
    s, plan = redis_settings, Plan(judge_from=cut)
    one, _, final_one = await _run(s, p + "one:", warm, events, catalog, 1, plan)
    whole, _, final_whole = await _run(s, p + "whole:", warm, events, catalog, len(events),
                                       plan)
    assert one["preq_judged"] == late            # the user has a list from the warm-up part
    assert one["preq_hits"] > 0
    for name in ("preq_judged", "preq_hits", "preq_rr", "preq_ndcg"):
        assert whole[name] == pytest.approx(one[name]), name
    assert final_whole == final_one


async def test_replayed_events_are_not_judged_twice(redis_settings, data_dir):
    """At-least-once delivery: a batch consumed again after a rebalance or crash (same event
    ids) must not add to the prequential counts."""
    data = data_dir
    rows = read_ratings(data, 40)
    warm = list(events_from_ratings([r for r in rows if r[0] != "1"]))
    events = list(events_from_ratings([r for r in rows if r[0] == "1"]))
    s = redis_settings.replace(redis_prefix=redis_settings.redis.redis_prefix + "replay:",
                               ranking="covisit")
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(catalog_changes(read_catalog(data)))
        proc = Processor(s, store, MemoryUsers(), _sink, evaluation=Evaluation(Plan()))
        await _feed(proc, warm, 500)
        await _feed(proc, events, 100)
        once, _, _ = await store.read_metrics()
        again = Processor(s, store, MemoryUsers(), _sink, evaluation=Evaluation(Plan()))
        await _feed(again, events[50:250], 100)   # redelivered
        twice, _, _ = await store.read_metrics()
    assert once["preq_judged"] > 0
    for name in ("preq_judged", "preq_hits", "events_total"):
        assert twice.get(name) == once.get(name), name
