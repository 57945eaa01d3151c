"""Forgetting a user (``DELETE /users/{id}``) over a real broker, Redis, worker and learner:
nothing of the user stays in Redis or in the next snapshot, and replayed events are skipped
until it consents again."""

from __future__ import annotations

import time

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from streamrec.models.experiments import Experiment
from streamrec.state import snapshots
from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.server import start_api
from streamrec.streams.learner import Learner
from streamrec.streams.tools.replay import Producer
from tests.conftest import eventually, metric
from tests.integration.test_worker import ev, load_catalog

pytestmark = pytest.mark.integration


async def traces_of(settings, user: str) -> list[str]:
    """Every key whose name or value holds ``user``, but the ``forgotten`` mark itself."""
    r = aioredis.Redis.from_url(settings.redis.redis_url)
    prefix, found = settings.redis.redis_prefix, []
    try:
        async for key in r.scan_iter(match=prefix + "*", count=1000):
            name = key.decode()[len(prefix):]
            kind = (await r.type(key)).decode()
            if kind == "string":
                values = [await r.get(key)]
            elif kind == "hash":
                values = [b for kv in (await r.hgetall(key)).items() for b in kv]
            elif kind == "zset":
                values = await r.zrange(key, 0, -1)
            else:
                values = list(await r.smembers(key))
            if name == "forgotten":
                continue
            if user in name or any(user.encode() in v for v in values
                                   if not name.startswith("model:")):
                found.append(name)
    finally:
        await r.aclose()
    return found


async def snapshot_model(settings, store):
    snap = snapshots.loads(await store.get_bytes("model:snapshot"),
                           settings.serving.snapshot_key.get_secret_value())
    return snap["model"]


def learned_of(model, user: str) -> list[str]:
    """Where the River models hold something of ``user``."""
    mf, fm = model.mf._model, model.ctr._model
    return [name for name, held in (("mf", user in mf.u_latents or user in mf.u_biases),
                                    ("ctr", f"u={user}" in fm.weights),
                                    ("affinity", user in model._recent_cats)) if held]


async def test_a_forgotten_user_leaves_redis_and_the_models_and_its_replay_is_skipped(
        settings, worker_factory):
    worker_factory()
    now = time.time()
    # views, and clicks on items viewed before (one topic: each user's events in order)
    history = [ev(f"h{n}", ("alice", "bob")[n % 2], str(1 + n % 20), now + n, type="view")
               for n in range(40)]
    history += [ev(f"k{n}", e["user_id"], e["item_id"], e["ts"] + 30, type="click")
                for n, e in enumerate(history) if n % 5 == 0]
    auth = {"Authorization": "Bearer " + settings.serving.admin_token.get_secret_value()}
    runner, url = await start_api(settings.replace(api_port=0))
    async with RedisStore(settings.redis.redis_url, settings.redis.redis_prefix) as store, \
            Producer(settings) as producer, aiohttp.ClientSession() as http:
        try:
            await store.create_experiment(Experiment.from_dict(
                {"name": "ab", "variants": ["blend", "covisit"]}))
            await load_catalog(settings, store, producer)

            async def send(events):
                for e in events:
                    await producer.send("events", e["user_id"], e)
                await producer.flush()

            async def counts(events, forgotten=0):
                async def done():
                    m, _, _ = await store.read_metrics()
                    return (m.get("events_total", 0) == events and
                            m.get("forgotten_total", 0) == forgotten) and m
                return await eventually(done, 60, 0.2)

            await send(history)
            await counts(len(history))
            held = await traces_of(settings, "alice")
            assert {"user:alice", "rec:alice"} <= set(held)
            assert any(k.startswith("imp:") for k in held)     # the experiment's exposures
            await Learner(settings).run(until_idle_s=1.5)
            assert learned_of(await snapshot_model(settings, store), "alice") == \
                ["mf", "ctr", "affinity"]

            async with http.delete(url + "/users/alice") as r:      # no token
                assert r.status == 401
            async with http.delete(url + "/users/alice", headers=auth) as r:
                assert r.status == 200, await r.text()
                answer = await r.json()
            print("removed:", answer["removed"])
            assert set(answer["removed"]) == set(held)   # every key that held alice
            assert answer["tombstone"]["topic"] == settings.topic("users.forget")
            assert await traces_of(settings, "alice") == []

            learner = Learner(settings)                  # restores, reads the tombstone
            await learner.run(until_idle_s=1.5)
            model = await snapshot_model(settings, store)
            assert learned_of(model, "alice") == [] and model.forgotten == {"alice"}
            assert learned_of(model, "bob") == ["mf", "ctr", "affinity"]

            # a replay of alice's events (new ids: not deduplicated) is skipped, bob's not
            replay = [{**e, "event_id": "r" + e["event_id"], "ts": e["ts"] + 100}
                      for e in history]
            await send(replay)
            n_alice = sum(e["user_id"] == "alice" for e in replay)
            await counts(len(history) + len(replay) - n_alice, n_alice)
            assert await traces_of(settings, "alice") == []
            async with http.get(url + "/recommendations/alice") as r:
                assert (await r.json())["cold_start"] is True
            learner = Learner(settings)
            await learner.run(until_idle_s=1.5)
            model = await snapshot_model(settings, store)
            assert learned_of(model, "alice") == [] and model.skipped == n_alice
            async with http.get(url + "/metrics") as r:
                assert metric(await r.text(), "streamrec_forgotten_events_total") == n_alice

            # consent again: alice's later events are applied and learned
            async with http.post(url + "/users/alice/consent", headers=auth) as r:
                assert r.status == 200 and (await r.json())["was_forgotten"] is True
            await send([ev("c1", "alice", "3", now + 500, type="view")])
            await counts(len(history) + len(replay) - n_alice + 1, n_alice)
            assert orjson.loads(await store.get_bytes("rec:alice"))["user_id"] == "alice"
            learner = Learner(settings)
            await learner.run(until_idle_s=1.5)
            assert "mf" in learned_of(await snapshot_model(settings, store), "alice")
        finally:
            await runner.cleanup()


async def test_forget_answers_clear_errors(settings):
    auth = {"Authorization": "Bearer " + settings.serving.admin_token.get_secret_value()}
    runner, url = await start_api(settings.replace(api_port=0, broker=""))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.delete(url + "/users/" + "x" * 300, headers=auth) as r:
                assert r.status == 400 and "1..256" in (await r.json())["error"]
            async with http.delete(url + "/users/u1", headers=auth) as r:   # no broker
                assert r.status == 503 and "STREAMREC_BROKER" in (await r.json())["error"]
    finally:
        await runner.cleanup()
