"""``streamrec evaluate`` end to end on a small slice: real broker, real workers, report."""

from __future__ import annotations

import orjson
import pytest

from streamrec.streams.evaluate import build_report, run_evaluation
from streamrec.streams.eventlog import load_event_log

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

    report, raw = build_report(log, results, 10, bucket_s, 1.0)
    path = report.save(tmp_path / "rep", raw)
    text = path.read_text()
    assert "| covisit" in text and "HR@10" in text
    for png in ("hr_over_time", "metrics_by_config", "latency_histogram"):
        assert (tmp_path / "rep" / f"{png}.png").stat().st_size > 1000
    saved = orjson.loads((tmp_path / "rep" / "results.json").read_bytes())
    assert [r["config"] for r in saved["results"]] == ["trending", "covisit", "rtrec"]
    assert saved["results"][1]["hits"] == results[1].tally.hits
