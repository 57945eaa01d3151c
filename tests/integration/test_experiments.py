"""Experiments over a real Redis: the API, rewards through the batch processor, and two
processors (two workers) sharing totals."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment, ExperimentError
from streamrec.state.redis_store import RedisStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.api.server import start_api
from streamrec.streams.worker.processor import Message, Processor
from tests.conftest import metric, next_offset

pytestmark = pytest.mark.integration


def msg(topic, user, payload, offset=None):
    offset = next_offset() if offset is None else offset
    return Message(topic, 0, offset, user.encode(), orjson.dumps(payload), time.time())


def view(s, eid, user, item, ts):
    return msg(s.topic("events.view"), user, {"event_id": eid, "user_id": user, "item_id": item,
                                              "ts": ts})


def click(s, eid, user, item, ts, rec_id, kind="click", price=None):
    d = {"event_id": eid, "user_id": user, "item_id": item, "ts": ts, "rec_id": rec_id}
    if price is not None:
        d["price"] = price
    return msg(s.topic(f"events.{kind}"), user, d)


class Sink:
    def __init__(self):
        self.sent = []

    async def __call__(self, topic, key, value):
        self.sent.append((topic, key, value))


@pytest.fixture
async def store(redis_settings):
    async with RedisStore(redis_settings.redis.redis_url, redis_settings.redis.redis_prefix) as st:
        await st.apply_catalog([CatalogChange(str(i), stock=10) for i in range(50)])
        yield st


async def test_api_experiment_lifecycle_and_errors(redis_settings, store):
    runner, url = await start_api(redis_settings.replace(api_port=0))
    try:
        admin = {"Authorization": f"Bearer {redis_settings.serving.admin_token.get_secret_value()}"}
        async with aiohttp.ClientSession() as http:
            async def call(method, path, body=None, headers=admin):
                async with http.request(method, url + path, data=body, headers=headers) as r:
                    return r.status, await r.json()

            # admin endpoints refuse anonymous callers and wrong tokens, with JSON
            body = orjson.dumps({"name": "anon", "variants": ["blend"]})
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": admin["Authorization"][len("Bearer "):]}):
                for method, path in (("POST", "/experiments"), ("GET", "/experiments"),
                                     ("POST", "/experiments/anon/stop"),
                                     ("POST", "/experiments/anon/reset")):
                    status, err = await call(method, path, body, headers)
                    assert status == 401 and "bearer token" in err["error"], (method, path)
            assert await store.get_experiment("anon") is None

            good = orjson.dumps({"name": "rank", "variants": ["blend", "trending"],
                                 "weights": [0.5, 0.5]})
            status, body = await call("POST", "/experiments", good)
            assert status == 201 and body["status"] == "running"
            assert set(body["variants_report"]) == {"blend", "trending"}
            assert (await call("POST", "/experiments", good))[0] == 409
            for bad, fragment in [
                    (b'{"name": "x", "variants": []}', "non-empty"),
                    (b'{"name": "x", "variants": ["blend", "covisit"], "weights": [0.9, 0.3]}',
                     "sum to 1"),
                    (b"{oops", "body must be JSON")]:
                status, body = await call("POST", "/experiments", bad)
                assert status == 400 and fragment in body["error"]
            assert (await call("GET", "/experiments/nope"))[0] == 404
            assert (await call("POST", "/experiments/nope/pause"))[0] == 404
            status, body = await call("POST", "/experiments/rank/pause")
            assert status == 200 and body["status"] == "paused"
            assert (await call("POST", "/experiments/rank/resume"))[1]["status"] == "running"
            assert (await call("POST", "/experiments/rank/stop"))[1]["status"] == "stopped"
            assert (await call("POST", "/experiments/rank/resume"))[0] == 409
            status, body = await call("GET", "/experiments")
            assert [e["name"] for e in body["experiments"]] == ["rank"]
            async with http.get(url + "/metrics") as r:
                text = await r.text()
            assert metric(text, "streamrec_experiment_impressions_total", experiment="rank",
                          variant="blend") == 0
    finally:
        await runner.cleanup()


async def test_stop_wins_over_racing_resumes(redis_settings, store):
    """Status changes are one atomic step in Redis: 50 resumes and pauses racing one stop
    (over several connections) leave the experiment stopped; later resumes are refused."""
    exp = Experiment.from_dict({"name": "race", "variants": ["blend", "trending"]})
    assert await store.create_experiment(exp)
    moves = ["running", "paused"] * 25
    moves.insert(17, "stopped")
    got = await asyncio.gather(*(store.set_experiment_status("race", m) for m in moves),
                               return_exceptions=True)
    assert [g.status for g in got if isinstance(g, Experiment)].count("stopped") == 1
    assert all(isinstance(g, Experiment | ExperimentError) for g in got)
    assert (await store.get_experiment("race")).status == "stopped"
    with pytest.raises(ExperimentError, match="stopped"):
        await store.set_experiment_status("race", "running")


async def test_admin_endpoints_are_closed_without_a_configured_token(redis_settings, store):
    runner, url = await start_api(redis_settings.replace(api_port=0, admin_token=""))
    try:
        async with aiohttp.ClientSession() as http, http.post(
                url + "/experiments", data=b'{"name":"x","variants":["blend"]}',
                headers={"Authorization": "Bearer "}) as r:
            assert r.status == 401 and "STREAMREC_ADMIN_TOKEN" in (await r.json())["error"]
    finally:
        await runner.cleanup()


async def test_clicks_on_impressions_reward_the_variant_once(redis_settings, store):
    s = redis_settings
    from streamrec.models.experiments import Experiment
    await store.create_experiment(Experiment.from_dict(
        {"name": "ab", "variants": ["covisit", "trending"], "weights": [0.5, 0.5]}))
    sink = Sink()
    proc = Processor(s, store, MemoryUsers(), sink)
    await proc.process_events([view(s, f"v{u}", f"u{u}", str(u % 7), 10.0 + u)
                               for u in range(40)])
    recs = {}
    for u in range(40):
        rec = (await store.read_rec(f"u{u}", 5))[0]
        assert rec["experiment"] == "ab" and rec["variant"] in ("covisit", "trending")
        recs[f"u{u}"] = rec
    stats = await store.experiment_stats("ab")
    assert sum(v.impressions for v in stats.values()) == 40
    # every "covisit" user clicks twice on the same list and buys once, and the batch is
    # delivered again (a crash before its offsets were committed); "trending" users do nothing
    clicked = [u for u, r in recs.items() if r["variant"] == "covisit"]
    events = []
    for u in clicked:
        imp = recs[u]["impression_id"]
        item = recs[u]["items"][0]["item_id"]
        events += [click(s, f"c1{u}", u, item, 100.0, imp),
                   click(s, f"c2{u}", u, item, 101.0, imp),
                   click(s, f"p{u}", u, item, 102.0, imp, kind="purchase", price=4.0)]
    await proc.process_events(events)
    assert await proc.process_events(events) == 0     # redelivered: applied once
    stats = await store.experiment_stats("ab")
    n = len(clicked)
    assert stats["covisit"].clicks == 2 * n          # the duplicate did not count
    assert stats["covisit"].purchases == n
    assert stats["covisit"].successes == n           # one success per impression
    assert stats["covisit"].reward == pytest.approx(2 * n + 4.0 * n)
    assert stats["trending"].successes == 0
    # the impressions log: every list with its variant's propensity (the split's 0.5),
    # and each reward once; off-policy, an all-covisit allocation wins
    from streamrec.models.ope import Allocation, evaluate
    from streamrec.streams import schemas
    from streamrec.streams.tools.ope_log import rounds

    logged = [v for t, _, v in sink.sent if t == s.topic("impressions")]
    records = [schemas.decode_impression(v) for v in logged]
    shown = [x for x in records if isinstance(x, schemas.Impression)]
    assert {x.impression_id for x in shown} >= {r["impression_id"] for r in recs.values()}
    assert all(x.experiment == "ab" and x.variant_propensity == 0.5 for x in shown)
    assert sum(isinstance(x, schemas.ImpressionReward) for x in records) == 3 * n
    log = rounds(logged, "variants")
    assert len(log) == len(shown) and sum(r.reward for r in log) == n
    best = evaluate(log, Allocation({"covisit": 1.0}), n_boot=50)["ipw"].value
    assert best == pytest.approx(2 * n / len(log)) and \
        evaluate(log, Allocation({"trending": 1.0}), n_boot=50)["ipw"].value == 0.0
    # each reward carries its value (a click 1, the purchase its price), and the log
    # becomes one session per user for the long-term policy: its first list earned
    # 1 + 1 + 4 for a covisit user (the lists its clicks made follow, unrewarded)
    from streamrec.streams.tools.longterm import impression_sessions
    assert sorted(x.value for x in records if isinstance(x, schemas.ImpressionReward)) == \
        [1.0] * (2 * n) + [4.0] * n
    sessions = impression_sessions(logged)
    assert len(sessions) == 40
    assert sorted(steps[0].reward for steps in sessions) == [0.0] * (40 - n) + [6.0] * n
    assert sum(st.reward for steps in sessions for st in steps) == 6.0 * n
    assert all(st.state.clicked == (t == 1 and steps[0].reward > 0)
               for steps in sessions for t, st in enumerate(steps) if t <= 1)


async def test_rewards_outside_the_attribution_window_do_not_count(redis_settings, store):
    s = redis_settings
    from streamrec.models.experiments import Experiment
    await store.create_experiment(Experiment.from_dict(
        {"name": "w", "variants": ["blend"], "attribution_window_s": 1}))
    proc = Processor(s, store, MemoryUsers(), Sink())
    await proc.process_events([view(s, "v1", "u1", "1", 1.0)])
    imp = (await store.read_rec("u1", 5))[0]["impression_id"]
    await asyncio.sleep(2.1)
    await proc.process_events([click(s, "late", "u1", "2", 5.0, imp)])
    assert (await store.experiment_stats("w"))["blend"].clicks == 0


async def test_two_processors_give_the_same_totals_as_one(redis_settings):
    s = redis_settings
    events = [view(s, f"e{i}", f"u{i % 9}", str(i % 13), float(i)) for i in range(300)]

    async def totals(prefix, n_workers):
        async with RedisStore(s.redis.redis_url, prefix) as st:
            await st.apply_catalog([CatalogChange(str(i), stock=10) for i in range(13)])
            procs = [Processor(s.replace(redis_prefix=prefix), st, MemoryUsers(), Sink())
                     for _ in range(n_workers)]
            # users are partitioned between workers (each owns a partition of its users'
            # events); a redelivered batch counts nothing
            for w, p in enumerate(procs):
                mine = [dataclasses.replace(m, partition=w) for m in events
                        if int(m.key.decode()[1:]) % n_workers == w]
                await p.process_events(mine)
                await p.process_events(mine[:50])
            m, _, _ = await st.read_metrics()
            pop = await st.client.zrange(st.key("pop"), 0, -1, withscores=True)
            cv = await st.client.zrange(st.key("cv:3"), 0, -1, withscores=True)
            return m["events_total"], sorted(pop), sorted(cv)

    one = await totals(s.redis.redis_prefix + "one:", 1)
    two = await totals(s.redis.redis_prefix + "two:", 2)
    assert one[0] == two[0] == 300
    for a, b in ((one[1], two[1]), (one[2], two[2])):  # same items, scores up to fp order
        assert [i for i, _ in a] == [i for i, _ in b] and len(a) > 1
        assert [x for _, x in a] == pytest.approx([x for _, x in b], rel=1e-12)


async def test_a_session_policy_chooses_each_lists_variant_from_the_users_session(
        redis_settings, store):
    """allocation "session": the first list of a session is made by the variant the
    policy's values prefer there; the list made after a click, a state the policy never
    saw, by the pooled preference; each impression logs the policy's propensity."""
    s = redis_settings
    policy = {"actions": ["covisit", "trending"], "epsilon": 0.2,
              "q": {"0/0/0": [0.0, 2.0]}, "pool": [3.0, 1.0]}
    await store.create_experiment(Experiment.from_dict(
        {"name": "lt", "variants": ["covisit", "trending"], "allocation": "session",
         "session_policy": policy}))
    sink = Sink()
    proc = Processor(s, store, MemoryUsers(), sink)
    users = [f"u{n}" for n in range(60)]
    await proc.process_events([view(s, f"v{u}", u, str(n % 7), 10.0 + n)
                               for n, u in enumerate(users)])
    first = {u: (await store.read_rec(u, 5))[0] for u in users}
    await proc.process_events([click(s, f"c{u}", u, first[u]["items"][0]["item_id"],
                                     20.0 + n, first[u]["impression_id"])
                               for n, u in enumerate(users)])
    second = {u: (await store.read_rec(u, 5))[0] for u in users}
    chose_first = [first[u]["variant"] for u in users]
    chose_second = [second[u]["variant"] for u in users]
    # epsilon 0.2 over two variants: the preferred one with probability 0.9
    assert 45 <= chose_first.count("trending") <= 59
    assert 45 <= chose_second.count("covisit") <= 59
    from streamrec.streams import schemas
    shown = {x.impression_id: x for x in (schemas.decode_impression(v)
                                          for t, _, v in sink.sent
                                          if t == s.topic("impressions"))
             if isinstance(x, schemas.Impression)}
    for recs, liked in ((first, "trending"), (second, "covisit")):
        for u in users:
            imp = shown[recs[u]["impression_id"]]
            assert imp.variant_propensity == pytest.approx(0.9 if imp.variant == liked else 0.1)
