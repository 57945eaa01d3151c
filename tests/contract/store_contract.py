"""ONE behaviour suite for every shared-state backend (``state/protocols.py``).

Each backend's test module subclasses :class:`StoreContract` and gives a ``store`` fixture
(a fresh, empty store with ``half_life_s=60`` and ``covisit_cap=10``); every test here
then runs against it. The pattern is Gorse's storage tests: one base suite, embedded by
each backend.
"""

from __future__ import annotations

import orjson
import pytest

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment, ExperimentError
from streamrec.models.prequential import Tally
from streamrec.state.batch import BatchWrite, Fenced, Impressions
from streamrec.state.metrics_payload import metrics_payload
from tests.conftest import stored_list


def _metrics(**kw):
    base = {"events": 0, "dlq": 0, "recs": 0, "catalog": 0, "latencies_ms": (),
            "worker": "w1", "worker_info": {"lag": 0}}
    return metrics_payload(**{**base, **kw})


def _list(user: str, items: list[str], made: float) -> bytes:
    return stored_list(user, items, made)


class StoreContract:
    """Behaviour every backend shares."""

    # -- the batch write -------------------------------------------------------------
    async def test_watermarks_apply_a_batch_once_and_fence_stale_writers(self, store):
        def batch(seen, nxt):
            return BatchWrite(watermarks=[("ev:0", seen, nxt)], trending=[("a", 10.0)],
                              visits=[("a", ["b"], 1.0)], metrics=_metrics(events=1))
        await store.commit(batch(-1, 5))
        assert await store.watermarks(["ev:0", "ev:1"]) == ({"ev:0": 5}, {})
        with pytest.raises(Fenced, match="ev:0") as e:
            await store.commit(batch(-1, 5))            # replayed: applied already
        assert e.value.current == 5
        with pytest.raises(Fenced):
            await store.commit(batch(3, 6))             # a stale view
        await store.commit(batch(5, 9))
        m, _, _ = await store.read_metrics()
        assert m["events_total"] == 2
        cands = await store.fetch_candidates(["b"], 10, 5)
        assert cands.covis == {"b": [("a", 2.0)]}       # counted twice, not four times
        assert (await store.watermarks(["ev:0"]))[0] == {"ev:0": 9}

    async def test_trending_watermarks_are_their_own(self, store):
        first = BatchWrite(watermarks=[("ev:0", -1, 3)], trending=[("a", 1.0)],
                           watermark_hash="wm:pop")
        await store.commit(first)
        assert await store.watermarks(["ev:0"]) == ({}, {"ev:0": 3})
        with pytest.raises(Fenced):
            await store.commit(first)
        assert (await store.fetch_candidates([], 1, 5)).trending == [("a", 1.0)]

    async def test_a_bad_number_writes_nothing(self, store):
        bad = BatchWrite(watermarks=[("ev:0", -1, 2)], trending=[("a", 1.0)],
                         visits=[("a", ["b"], float("nan"))], sets={"rec:u": b"{}"})
        with pytest.raises(Exception, match="co-visitation weight"):
            await store.commit(bad)
        assert await store.watermarks(["ev:0"]) == ({}, {})
        assert (await store.fetch_candidates(["b"], 5, 5)).trending == []
        assert await store.read_recs(["u"]) == {}

    async def test_trending_decays_forward_and_rebases_without_changing_the_order(self, store):
        await store.commit(BatchWrite(trending=[("a", 0.0), ("b", 0.0), ("a", 60.0)]))
        assert (await store.fetch_candidates([], 0, 5)).trending == [("a", 3.0), ("b", 1.0)]
        # 70 half-lives later: the scores are rebased (x 2^-70); c's one view outweighs all
        await store.commit(BatchWrite(trending=[("c", 60.0 * 71)]))
        top = (await store.fetch_candidates([], 0, 5)).trending
        assert [i for i, _ in top] == ["c", "a", "b"]
        assert top[0][1] == pytest.approx(1.0)
        assert top[1][1] / top[2][1] == pytest.approx(3.0)

    async def test_ties_rank_by_member_descending(self, store):
        await store.commit(BatchWrite(trending=[("a", 0.0), ("c", 0.0), ("b", 0.0)]))
        assert [i for i, _ in (await store.fetch_candidates([], 0, 5)).trending] == \
            ["c", "b", "a"]

    async def test_covisitation_weights_partners_by_distance_and_is_trimmed(self, store):
        await store.commit(BatchWrite(visits=[("x", ["b", "a"], 1.0)], backward=0.5))
        c = await store.fetch_candidates(["a", "b", "x"], 10, 0)
        assert c.covis["b"] == [("x", 1.0)] and c.covis["a"] == [("x", 0.5)]
        assert c.covis["x"] == [("b", 0.5), ("a", 0.25)]
        # "h" co-visited with 30 items (cap 10): rows past twice the cap keep the heaviest
        await store.commit(BatchWrite(visits=[(f"y{i:02d}", ["h"], i / 100.0)
                                              for i in range(30)]))
        row = (await store.fetch_candidates(["h"], 100, 0)).covis["h"]
        assert 10 <= len(row) <= 20
        assert [i for i, _ in row[:3]] == ["y29", "y28", "y27"]
        assert {f"y{i:02d}" for i in range(10)}.isdisjoint(i for i, _ in row)
        assert len((await store.fetch_candidates(["h"], 4, 0)).covis["h"]) == 4

    async def test_event_id_window_reports_recent_ids_and_forgets_old_ones(self, store):
        ids = [("ev:0", n, f"e{n}") for n in range(30)]
        await store.commit(BatchWrite(event_ids=ids, id_window=10))
        view = await store.batch_view(["ev:0"], {"ev:0": ["e29", "e25", "e0", "new"]})
        assert view.seen == {("ev:0", "e29"), ("ev:0", "e25")}
        assert (await store.batch_view(["ev:1"], {"ev:1": ["e29"]})).seen == set()

    async def test_read_batch_commits_first_then_reads_lists_and_candidates(self, store):
        await store.write_recs({"u1": _list("u1", ["a", "b"], 1.0)})
        first = BatchWrite(watermarks=[("ev:0", -1, 1)], trending=[("z", 5.0)],
                           watermark_hash="wm:pop")
        lists, cands = await store.read_batch(["u1", "u2"], ["q"], 5, 3, first=first)
        assert lists == {"u1": ["a", "b"]}
        assert cands is not None and cands.trending == [("z", 1.0)]
        assert await store.read_batch([], None) == ({}, None)

    # -- catalog -----------------------------------------------------------------------
    async def test_catalog_merges_changes_and_tracks_stock(self, store):
        await store.apply_catalog([CatalogChange("i1", 3, 10.0, "toys", "Kite"),
                                   CatalogChange("i2", 0, 5.0, None, None)])
        await store.apply_catalog([CatalogChange("i1", None, 8.0, None, None)])
        assert await store.item("i1") == {"stock": 3, "price": 8.0, "prev_price": 10.0,
                                          "category": "toys", "title": "Kite"}
        assert await store.out_of_stock() == {"i2"}
        assert await store.known_items(["i1", "i3"]) == {"i1"}
        assert await store.all_items(10) == {"i1", "i2"}
        assert await store.all_items(1) == set()           # too many to read at once
        assert (await store.catalog_info(["i2", "nope"])) == {"i2": {"stock": 0,
                                                                     "price": 5.0}}
        v = (await store.fetch_candidates([], 0, 0)).catalog_version
        await store.apply_catalog([CatalogChange("i2", 4, None, None, None)])
        c = await store.fetch_candidates([], 0, 0)
        assert c.out_of_stock == set() and c.catalog_version == v + 1
        assert not await store.catalog_built()
        await store.mark_catalog_built(3)
        assert await store.catalog_built()

    # -- lists and users ----------------------------------------------------------------
    async def test_serving_drops_items_sold_out_after_the_list_was_made(self, store):
        await store.apply_catalog([CatalogChange(i, 5, 1.0, None, None) for i in "abc"])
        await store.write_recs({"u1": _list("u1", ["a", "b", "c"], 1.0)})
        rec, trending = await store.serve_rec("u1", 5)
        assert [i.item_id for i in rec.items] == ["a", "b", "c"] and trending == []
        await store.apply_catalog([CatalogChange("b", 0, None, None, None)])
        rec, _ = await store.serve_rec("u1", 5)
        assert [i.item_id for i in rec.items] == ["a", "c"]
        await store.commit(BatchWrite(trending=[("b", 1.0), ("c", 1.0), ("c", 1.0)]))
        assert await store.serve_rec("new", 5) == (None, [("c", 2.0)])

    async def test_user_states_round_trip(self, store):
        await store.put_user_states({"u1": b'{"r":["a"]}'})
        got = await store.user_states(["u1", "u2"])
        assert [orjson.loads(g) if g else None for g in got] == [{"r": ["a"]}, None]

    # -- experiments and arms ------------------------------------------------------------
    async def test_experiments_are_created_once_and_stop_wins(self, store):
        exp = Experiment(name="e1", variants=["covisit", "blend"], created_at=1.0)
        assert await store.create_experiment(exp)
        assert not await store.create_experiment(exp)
        assert [e.name for e in await store.list_experiments()] == ["e1"]
        assert (await store.set_experiment_status("e1", "paused")).status == "paused"
        assert (await store.set_experiment_status("e1", "stopped")).status == "stopped"
        with pytest.raises(ExperimentError):
            await store.set_experiment_status("e1", "running")
        assert (await store.get_experiment("e1")).status == "stopped"
        assert await store.set_experiment_status("nope", "paused") is None

    async def test_impressions_and_rewards_count_once(self, store):
        imp = Impressions("e1", 3600, 1.0, "value", [("i1", "blend", "u1"),
                                                     ("i2", "covisit", "u2")])
        await store.commit(BatchWrite(impressions=imp))
        await store.commit(BatchWrite(impressions=Impressions(
            "e1", 3600, 1.0, "value", [("i1", "blend", "u1")])))   # the same list again
        await store.commit(BatchWrite(rewards=[("i1", "click", 1.0), ("i1", "purchase", 7.5),
                                               ("gone", "click", 1.0)]))
        stats = await store.experiment_stats("e1")
        b, c = stats["blend"], stats["covisit"]
        assert (b.impressions, b.successes, b.clicks, b.purchases) == (1, 1, 1, 1)
        assert b.reward == pytest.approx(8.5)
        assert (c.impressions, c.successes) == (1, 0)
        await store.reset_experiment("e1")
        assert await store.experiment_stats("e1") == {}

    async def test_exploration_arms_count_shown_and_clicked(self, store):
        await store.commit(BatchWrite(shown=["a", "a", "b"], clicks=["a"]))
        assert await store.item_arm_stats(["a", "b", "c"]) == {"a": (2, 1), "b": (1, 0)}

    # -- metrics, liveness, snapshots ---------------------------------------------------
    async def test_metrics_add_up_across_batches(self, store):
        tally = Tally(judged=4, hits=1, rr=0.5, ndcg_sum=0.6)
        await store.commit(BatchWrite(metrics=_metrics(events=3, recs=2,
                                                       latencies_ms=[3.0, 40.0], tally=tally,
                                                       curve={7: tally}, served=["a", "b"])))
        await store.record_batch(events=0, dlq=2, recs=0, catalog=5, latencies_ms=(),
                                 dlq_reasons={"timestamp": 1, "unknown_item": 1},
                                 worker="w2", worker_info={"lag": 3}, served=["b", "c"])
        await store.record_batch(events=0, dlq=1, recs=0, catalog=0, latencies_ms=(),
                                 dlq_reasons={"timestamp": 1}, worker="w2",
                                 worker_info={"lag": 3})
        await store.apply_catalog([CatalogChange("x", 0, None, None, None),
                                   CatalogChange("y", 2, None, None, None)])
        m, lat, workers = await store.read_metrics()
        assert (m["events_total"], m["dlq_total"], m["catalog_total"]) == (3, 3, 5)
        assert (m["dlq:timestamp"], m["dlq:unknown_item"]) == (2, 1)
        assert m["sold_out_items"] == 1
        assert m["latency_sum_ms"] == pytest.approx(43.0) and m["latency_count"] == 2
        assert lat == {"5": 1, "50": 1}
        assert m["served_items"] == 3
        assert workers == {"w1": {"lag": 0}, "w2": {"lag": 3}}
        curve = await store.read_curve()
        assert list(curve) == [7] and (curve[7].judged, curve[7].hits) == (4, 1)
        assert curve[7].rr == pytest.approx(0.5)

    async def test_heartbeats(self, store):
        await store.heartbeat("learner", {"ts": 5.0})
        assert (await store.heartbeats())["learner"] == {"ts": 5.0}

    async def test_snapshots(self, store):
        assert await store.snapshot_version() is None
        await store.put_snapshot(b"\x00signed", 3, {"events": 9})
        assert await store.snapshot_version() == "3"
        assert await store.get_bytes("model:snapshot") == b"\x00signed"

    # -- privacy ---------------------------------------------------------------------
    async def test_a_forgotten_user_loses_its_keys_and_gets_nothing_written(self, store):
        users = {"u1": b'{"r":["a"]}', "u2": b'{"r":["b"]}'}
        await store.commit(BatchWrite(
            sets={**{"user:" + u: v for u, v in users.items()},
                  **{"rec:" + u: _list(u, ["a"], 1.0) for u in users}},
            impressions=Impressions("e1", 3600, 1.0, "value",
                                    [("i1", "blend", "u1"), ("i2", "blend", "u1"),
                                     ("i3", "blend", "u2")])))
        await store.commit(BatchWrite(rewards=[("i1", "click", 1.0)]))
        v0 = (await store.batch_view(["ev:0"], {})).forgotten_version
        removed = await store.forget_user("u1", 123.0)
        assert sorted(removed) == ["imp:i1", "imp:i2", "impok:i1", "rec:u1", "user:u1"]
        assert await store.forgotten_users() == {"u1": 123.0}
        assert (await store.batch_view(["ev:0"], {})).forgotten_version > v0
        # a batch that read u1 before it was forgotten writes nothing of it; u2 is kept
        await store.commit(BatchWrite(
            sets={"user:u1": b"{}", "rec:u1": _list("u1", ["c"], 2.0),
                  "user:u2": b'{"r":["c"]}'},
            impressions=Impressions("e1", 3600, 1.0, "value", [("i4", "blend", "u1")]),
            rewards=[("i2", "click", 1.0)]))
        assert [orjson.loads(s) if s else None for s in await store.user_states(["u1", "u2"])
                ] == [None, {"r": ["c"]}]
        assert await store.read_recs(["u1"]) == {}
        stats = await store.experiment_stats("e1")
        assert (stats["blend"].impressions, stats["blend"].clicks) == (3, 1)  # i1-i3 only
        assert await store.forget_user("u1", 124.0) == []       # again: nothing left
        assert await store.consent_user("u1") is True
        assert await store.consent_user("u1") is False
        assert await store.forgotten_users() == {}
        await store.commit(BatchWrite(sets={"user:u1": b'{"r":["d"]}'}))  # written again
        assert orjson.loads((await store.user_states(["u1"]))[0]) == {"r": ["d"]}
