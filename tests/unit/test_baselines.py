"""The rtrec baseline is judged by the same prequential rule as our workers."""

from __future__ import annotations

import pytest

from streamrec.models.baselines import RtrecBaseline
from streamrec.streams.exceptions import DataMissing
from streamrec.streams.settings import Settings
from streamrec.streams.tools.eventlog import load_event_log


def test_rtrec_slim_is_judged_like_the_workers():
    pytest.importorskip("rtrec", reason="rtrec is installed by the [test] extra")
    try:
        log = load_event_log(Settings.from_env().resolved_data_dir(), users=15)
    except DataMissing as e:
        pytest.skip(str(e))
    base = RtrecBaseline(k=20, fit_every=500)
    tally, curve = base.run(log.events, bucket_s=30 * 86400.0)
    views = sum(1 for kind, _ in log.events if kind == "view")
    assert tally.judged == views - log.users     # every view but each user's first
    assert sum(t.judged for t in curve.values()) == tally.judged
    assert tally.hits > 0 and 0 <= tally.mrr <= tally.hr <= 1
    assert 0 < base.coverage(len(log.catalog)) <= 1


def test_rtrec_judges_only_from_judge_from_on():
    pytest.importorskip("rtrec", reason="rtrec is installed by the [test] extra")
    log = load_event_log(Settings.from_env().resolved_data_dir(), users=15)
    cut = sorted(e["ts"] for _, e in log.events)[len(log.events) // 2]
    seen: dict[str, set[str]] = {}
    late = 0          # events on an item new to a user who already has events, from cut on
    for _, e in log.events:
        mine = seen.setdefault(e["user_id"], set())
        late += bool(mine) and e["item_id"] not in mine and e["ts"] >= cut
        mine.add(e["item_id"])
    tally, _ = RtrecBaseline(k=20, fit_every=500).run(log.events, 30 * 86400.0,
                                                      judge_from=cut)
    assert 0 < tally.judged == late
