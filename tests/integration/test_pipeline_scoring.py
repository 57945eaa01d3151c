"""The worker's ranking with transformer scores over a real broker, and its fallback."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.models.sequential import build, save
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.scorer import InlineScoring, Scorer
from streamrec.streams.tools.evaluation import Evaluation, Plan
from streamrec.streams.worker.processor import Message, Processor
from streamrec.streams.worker.scoring_client import ScoringClient
from tests.conftest import eventually, next_offset

pytestmark = pytest.mark.integration
ITEMS = [str(i) for i in range(1, 41)]


class Sink:
    async def __call__(self, topic, key, value):
        pass


def views(s, user, items, t0=0.0):
    return [Message(s.topic("events.view"), 0, next_offset(), user.encode(), orjson.dumps(
        {"event_id": f"{user}-{n}-{item}", "user_id": user, "item_id": item, "ts": t0 + n}),
        time.time()) for n, item in enumerate(items)]


PROBE = (["1", "5", "9"], ["2", "3", "30", "unknown"])


async def run_pipeline(s, with_scorer, tmp_path, scoring=None):
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(i, stock=5) for i in ITEMS])
        scorer_task = None
        if with_scorer:
            save(build(len(ITEMS), dim=16, layers=1, heads=2, max_len=10, seed=0), ITEMS,
                 tmp_path / "m")
            scorer = Scorer(s, tmp_path / "m", max_batch=16, max_wait_ms=2, device="cpu")
            scorer_task = asyncio.create_task(scorer.run())
        client = scoring or ScoringClient(s)
        await client.start()
        probe = None
        try:
            proc = Processor(s, store, MemoryUsers(), Sink(), scoring=client)
            for u in range(6):   # co-visitation history
                await proc.process_events(views(s, f"o{u}", ITEMS[u: u + 8], 100.0 * u))
            if with_scorer:      # wait until the scorer has joined and answers
                deadline = time.monotonic() + 60
                while True:
                    probe = (await client.score({"probe": PROBE}, 1.0))["probe"]
                    if probe or time.monotonic() > deadline:
                        break
            await proc.process_events(views(s, "me", ["3", "4"], 1000.0))
            metrics, _, _ = await store.read_metrics()
            return (await store.read_rec("me", 20))[0], client, metrics, probe
        finally:
            await client.stop()
            if scorer_task:
                scorer.stop()
                await asyncio.wait_for(scorer_task, 30)


async def test_lists_use_transformer_scores_when_the_scorer_answers(settings, tmp_path):
    s = settings.replace(scorer=True, score_deadline_ms=5000)
    rec, client, metrics, probe = await run_pipeline(s, True, tmp_path)
    assert rec["scoring"] == "transformer"
    # counted for evaluate's report: the last list was ranked with scores
    assert 1 <= metrics["lists_model_total"] <= metrics["lists_ranked_total"]
    assert "+seqrec-" in rec["model_version"]
    assert rec["items"] and not {"3", "4"} & {i["item_id"] for i in rec["items"]}
    # evaluation's in-worker scoring gives the scoring worker's answer for the same model
    inline = (await InlineScoring(tmp_path / "m", device="cpu").score({"p": PROBE}, 0))["p"]
    assert inline["scores"][3] is None and probe["scores"][3] is None   # unknown item
    assert inline["scores"][:3] == pytest.approx(probe["scores"][:3], abs=1e-5)
    assert inline["model_version"] == probe["model_version"]


async def test_inline_scoring_ranks_every_list_with_scores(settings, tmp_path):
    """Inline scoring (what evaluate installs for its transformer): no deadline, no broker
    round trip, so every list with candidates is ranked with the model's scores."""
    save(build(len(ITEMS), dim=16, layers=1, heads=2, max_len=10, seed=0), ITEMS, tmp_path / "m")
    s = settings.replace(score_deadline_ms=1)
    scoring = InlineScoring(str(tmp_path / "m"), device="cpu")
    rec, _, metrics, _ = await run_pipeline(s, False, tmp_path, scoring)
    assert rec["scoring"] == "transformer" and "+seqrec-" in rec["model_version"]
    # 7 lists ranked; the first user's is empty (the catalog's only co-visits and trending
    # items are its own), so it has nothing to score
    assert metrics["lists_ranked_total"] == 7
    assert metrics["lists_model_total"] == metrics["lists_asked_total"] == 6
    assert scoring.answered == metrics["lists_model_total"] and scoring.timed_out == 0


async def test_ranking_falls_back_and_says_so_without_a_scorer(settings, tmp_path):
    s = settings.replace(scorer=True, score_deadline_ms=200)
    t0 = time.monotonic()
    rec, client, metrics, _ = await run_pipeline(s, False, tmp_path)
    assert rec["scoring"] == "fallback: no transformer scores within 200 ms"
    assert "lists_model_total" not in metrics and metrics["lists_ranked_total"] >= 1
    assert rec["model_version"] == "blend-v1" and rec["items"]
    assert client.timed_out >= 1 and time.monotonic() - t0 < 30
    assert metrics["lists_asked_total"] == client.timed_out    # every ask fell back


async def test_faust_worker_with_scorer_setting_starts_and_serves(settings, worker_factory):
    """``STREAMREC_SCORER=1 streamrec worker`` (a real Faust worker process) starts and
    serves lists; with no scorer running they say they fell back."""
    from streamrec.streams.tools.replay import Producer

    s = settings.replace(scorer=True, score_deadline_ms=100)
    async with (RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store,
                Producer(s) as producer):
        proc = worker_factory(s)
        for i in ITEMS[:5]:
            await producer.send("catalog.updates", i, {"item_id": i, "stock": 5})
        await producer.flush()

        async def catalog_loaded():
            assert proc.poll() is None, f"worker exited with {proc.returncode}"
            m, _, _ = await store.read_metrics()
            return m.get("catalog_total", 0) >= 5
        await eventually(catalog_loaded, 90)
        # another user's views make items 4 and 5 trending: w's list has candidates to
        # ask the (absent) scorer about (a list with none is not asked: "heuristic")
        for n, (user, i) in enumerate([("o", ITEMS[3]), ("o", ITEMS[4]),
                                       *(("w", i) for i in ITEMS[:3])]):
            await producer.send("events.view", user, {"event_id": f"w{n}", "user_id": user,
                                                      "item_id": i, "ts": float(n)})
            if n == 1:       # o's views applied (its list stored) before w's are sent
                await producer.flush()
                await eventually(lambda: has_list(store, "o"), 60)
        await producer.flush()

        async def served():      # a list with items (o's views may land after w's)
            rec = (await store.read_rec("w", 5))[0]
            return rec if rec and rec["items"] else None
        rec = await eventually(served, 60)
        assert rec["scoring"] == "fallback: no transformer scores within 100 ms", rec
        assert rec["items"]


async def has_list(store: RedisStore, user: str) -> bool:
    return (await store.read_rec(user, 5))[0] is not None


class ScoresByItemId:
    """A scorer (the ``Scoring`` protocol) whose score of an item is its numeric id, so the
    order its scores imply is known whatever order the candidates were sent in."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def score(self, requests, deadline_s):
        return {key: {"scores": [float(i) for i in cands], "model_version": "by-id"}
                for key, (_, cands) in requests.items()}


async def test_transformer_scores_follow_their_items_when_river_reorders_first(settings):
    """River re-ranks the candidates before the transformer's scores are applied: each
    score must stay with its item (they were once applied by position)."""
    s = settings.replace(transformer_weight=1.0, diversity_lambda=1.0, price_drop_boost=0.0,
                         river_weight=0.5, learned_ranker=False)
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(i, stock=5) for i in ITEMS])
        proc = Processor(s, store, MemoryUsers(), Sink(), scoring=ScoresByItemId(),
                         evaluation=Evaluation(Plan(exact=False, river=True, seed=0)))
        for u in range(6):   # co-visitation history, and River learns
            await proc.process_events(views(s, f"o{u}", ITEMS[u * 5: u * 5 + 12], 100.0 * u))
        await proc.process_events(views(s, "me", ["3", "9", "14"], 1000.0))
        rec = (await store.read_rec("me", 20))[0]
    got = [i["item_id"] for i in rec["items"]]
    assert rec["scoring"] == "transformer" and len(got) >= 10
    assert got == sorted(got, key=lambda i: -int(i)), got


async def test_a_scorer_without_a_model_answers_at_once_then_hot_loads_one(settings, tmp_path):
    """``--wait-for-model`` (the demo's scorer, started while its model trains): lists are
    ranked without the model, say why, and do not wait for the deadline; once a model is
    saved into the folder the scorer loads it and the next lists are scored with it."""
    s = settings.replace(scorer=True, score_deadline_ms=20_000)
    folder = tmp_path / "m"
    async with RedisStore(s.redis.redis_url, s.redis.redis_prefix) as store:
        await store.apply_catalog([CatalogChange(i, stock=5) for i in ITEMS])
        scorer = Scorer(s, folder, max_batch=16, max_wait_ms=2, device="cpu",
                        reload_every_s=0.2, wait_for_model=True)
        task = asyncio.create_task(scorer.run())
        client = ScoringClient(s)
        await client.start()
        try:
            proc = Processor(s, store, MemoryUsers(), Sink(), scoring=client)
            for u in range(6):
                await proc.process_events(views(s, f"o{u}", ITEMS[u: u + 8], 100.0 * u))
            t0 = time.monotonic()
            await proc.process_events(views(s, "me", ["3"], 1000.0))
            rec = (await store.read_rec("me", 20))[0]
            assert rec["scoring"] == "heuristic: the scorer has no model yet"
            assert rec["items"] and rec["model_version"] == "blend-v1"
            assert time.monotonic() - t0 < 10       # answered, not timed out (20 s)
            assert client.timed_out == 0 and client.answered == 0

            save(build(len(ITEMS), dim=16, layers=1, heads=2, max_len=10, seed=0), ITEMS,
                 folder)

            tries = iter(range(1, 10_000))

            async def scored():      # a new user's first list, until the model scores it
                user = f"me{next(tries)}"
                await proc.process_events(views(s, user, ["3"], 1000.0))
                got = (await store.read_rec(user, 20))[0]
                return got if got["scoring"] == "transformer" else None
            rec = await eventually(scored, 60, interval=0.3)
            assert "+seqrec-" in rec["model_version"] and client.answered >= 1
        finally:
            await client.stop()
            scorer.stop()
            await asyncio.wait_for(task, 30)
