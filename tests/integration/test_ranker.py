"""The learned re-ranker inside the worker's processor (real redis-server, no broker):
it learns from views of candidates, then orders the blend lists, which say so."""

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


async def test_ranker_learns_then_orders_the_lists(redis_settings, data_dir):
    events = list(events_from_ratings(read_ratings(data_dir, 12)))
    s = redis_settings.replace(candidate_cache_ms=0, ranker_warm_up=50,
                               diversity_lambda=1.0, price_drop_boost=0.0, content_weight=0.0)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog(catalog_changes(read_catalog(data_dir)))
        proc = Processor(s, store, MemoryUsers(), _sink, evaluation=Evaluation(Plan()))
        assert proc.lists.ranker is not None and not proc.lists.ranker.ready
        seen_versions: set[str] = set()
        for start in range(0, len(events), 200):
            msgs = [Message(s.topic(f"events.{kind}"), 0, next_offset(), e["user_id"].encode(),
                            orjson.dumps(e), 0.0)
                    for kind, e in events[start:start + 200]]
            await proc.process_events(msgs)
            users = sorted({e["user_id"] for _, e in events[start:start + 200]})
            raws = await store.client.mget([store.key(f"rec:{u}") for u in users])
            for raw in filter(None, raws):
                rec = orjson.loads(raw)
                seen_versions.add(rec["model_version"])
                if rec["model_version"].endswith("+ltr"):
                    scores = [i["score"] for i in rec["items"]]
                    assert scores == sorted(scores, reverse=True)   # the ranker's order
                    assert all(0 < x < 1 for x in scores)           # probabilities
        # it learned from views of items that were candidates, and only from those
        assert proc.lists.ranker.n_positives >= 50
        m, _, workers = await store.read_metrics()
        assert proc.lists.ranker.n_positives <= m["preq_judged"]
    assert {"blend-v1", "blend-v1+ltr"} <= seen_versions     # before and after warm-up
    # the heartbeat says which components carry weight: one weight per feature, the
    # ranker's own
    from streamrec.models.ranking import FEATURES
    weights = workers[proc.worker_id]["ranker"]
    assert list(weights) == list(FEATURES) and any(w != 0 for w in weights.values())
    assert weights == proc.lists.ranker.weights(FEATURES)


async def test_other_rankings_and_the_switch_leave_the_blend_order(redis_settings, data_dir):
    events = list(events_from_ratings(read_ratings(data_dir, 3)))[:300]
    for s in (redis_settings.replace(ranking="covisit", ranker_warm_up=0),
              redis_settings.replace(learned_ranker=False)):
        r = s.ranking
        s = s.replace(redis_prefix=f"{s.redis.redis_prefix}{r.ranking}{r.learned_ranker}:")
        async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
            await store.apply_catalog(catalog_changes(read_catalog(data_dir)))
            proc = Processor(s, store, MemoryUsers(), _sink)
            msgs = [Message(s.topic(f"events.{kind}"), 0, n, e["user_id"].encode(),
                            orjson.dumps(e), 0.0) for n, (kind, e) in enumerate(events)]
            await proc.process_events(msgs)
            for raw in filter(None, await store.client.mget(
                    [store.key(f"rec:{u}") for u in ("1", "2", "3")])):
                assert "+ltr" not in orjson.loads(raw)["model_version"]
