"""``streamrec evaluate`` end to end on a small slice: real broker, real workers, report."""

from __future__ import annotations

import math

import orjson
import pytest

from streamrec.streams.tools.evaluate import build_report, run_evaluation
from streamrec.streams.tools.evaluate_memory import run_evaluation_memory
from streamrec.streams.tools.eventlog import load_event_log

pytestmark = pytest.mark.integration


async def test_evaluate_two_configurations_through_real_workers(broker, redis_settings, data_dir,
                                                                tmp_path):
    log = load_event_log(data_dir, users=4)
    settings = redis_settings.replace(broker=broker.bootstrap)
    # rtrec (the outside baseline, in a process of its own) runs beside the two workers
    results, bucket_s = await run_evaluation(settings, log, ["trending", "covisit", "rtrec"],
                                             k=10, progress=False, idle_timeout_s=60,
                                             parallel=3)
    views = sum(1 for kind, _ in log.events if kind == "view")
    assert [r.name for r in results] == ["trending", "covisit", "rtrec"]
    for r in results:
        # exact judging: every view but each user's first (no list yet) meets a list, and
        # clicks/purchases are on items the user just viewed (not judged)
        assert r.tally.judged == views - log.users, r.name
        assert r.events == len(log.events)
        assert 0 <= r.tally.mrr <= r.tally.hr <= 1
        assert sum(t.judged for t in r.curve.values()) == r.tally.judged
        assert r.lists > 0 and 0 < r.coverage <= 1
    assert results[1].tally.hits > 0          # co-visitation finds some of the next movies
    cov = results[1].tally      # the sums of squares came back from Redis: standard errors
    assert cov.se_hr == pytest.approx(math.sqrt(cov.hr * (1 - cov.hr) / cov.judged))
    assert 0 < cov.se_mrr and 0 < cov.se_ndcg and 0 < cov.rr2 <= cov.rr

    # the in-memory backend, one process, the same worker code: the same figures (the two
    # differ only where a batch boundary falls), and the same again when run twice
    fast, _ = await run_evaluation_memory(settings, log, ["trending", "covisit"], k=10,
                                          progress=False, parallel=2)
    again, _ = await run_evaluation_memory(settings, log, ["covisit"], k=10, progress=False)
    for f, r in zip(fast, results, strict=False):
        assert f.name == r.name and f.tally.judged == r.tally.judged
        assert abs(f.tally.hr - r.tally.hr) <= 0.002, (f.name, f.tally.hr, r.tally.hr)
    assert again[0].tally == fast[1].tally

    report, raw = build_report(log, results, 10, bucket_s, 1.0)
    path = report.save(tmp_path / "rep", raw)
    text = path.read_text()
    assert "| covisit" in text and "HR@10 ± SE" in text
    assert f"{cov.hr:.4f} ± {cov.se_hr:.4f}" in text
    for png in ("hr_over_time", "metrics_by_config", "latency_histogram"):
        assert (tmp_path / "rep" / f"{png}.png").stat().st_size > 1000
    saved = orjson.loads((tmp_path / "rep" / "results.json").read_bytes())
    assert [r["config"] for r in saved["results"]] == ["trending", "covisit", "rtrec"]
    assert saved["results"][1]["hits"] == results[1].tally.hits


async def test_evaluate_transformer_scores_every_list_in_its_worker(broker, redis_settings,
                                                                    data_dir, tmp_path):
    """The transformer configuration on a time split: its worker scores every list with
    the model itself (no scorer process, no deadline), and only later events are judged."""
    from streamrec.streams.tools.train import run_train

    log = load_event_log(data_dir, users=4)
    ts = sorted(e["ts"] for _, e in log.events)
    cut = ts[len(ts) * 2 // 3]
    model = tmp_path / "seqrec"
    run_train(redis_settings.replace(data_dir=str(data_dir)), model, users=4, epochs=1,
              dim=16, layers=1, heads=2, max_len=20, lr=1e-3, batch_size=64, patience=1,
              device="cpu", until=cut)
    settings = redis_settings.replace(broker=broker.bootstrap)
    (r,), _ = await run_evaluation(settings, log, ["transformer"], k=10, model_dir=model,
                                   progress=False, idle_timeout_s=60, judge_from=cut)
    later_views = sum(1 for kind, e in log.events if kind == "view" and e["ts"] >= cut)
    assert 0 < r.tally.judged <= later_views
    assert r.events == len(log.events)
    # every list with candidates was scored (a user's first lists, when nothing but its own
    # items is known yet, have none)
    assert r.scored_lists == r.asked_lists >= 0.8 * r.ranked_lists > 0, r.note
