"""The report of ``streamrec evaluate``: the figures of each configuration, the table,
the plots and ``results.json``."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass, field
from typing import Any

from streamrec.models.prequential import Tally
from streamrec.state.metrics_payload import LATENCY_BUCKETS_MS
from streamrec.streams.tools.eventlog import EventLog
from streamrec.streams.tools.report import Report


def date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


@dataclass
class ConfigResult:
    name: str
    tally: Tally
    curve: dict[int, Tally]
    coverage: float
    ild: float
    lists: int
    events: int
    seconds: float
    latency_buckets: dict[str, int] = field(default_factory=dict)
    note: str = ""
    ranked_lists: int = 0        # lists the worker ranked (``lists`` counts those written)
    asked_lists: int = 0         # of them, sent for transformer scores (had candidates)
    scored_lists: int = 0        # of them, ranked with transformer scores
    ranker: dict[str, float] = field(default_factory=dict)   # learned ranker's weights

    def row(self) -> list[Any]:
        t = self.tally
        return [self.name, f"{t.hr:.4f} ± {t.se_hr:.4f}", f"{t.mrr:.4f} ± {t.se_mrr:.4f}",
                f"{t.ndcg:.4f} ± {t.se_ndcg:.4f}", t.judged, self.coverage, self.ild,
                self.events / max(self.seconds, 1e-9)]

    def to_json(self, bucket_s: float) -> dict[str, Any]:
        t = self.tally
        return {"config": self.name, "hr": t.hr, "mrr": t.mrr, "ndcg": t.ndcg,
                "hr_se": t.se_hr, "mrr_se": t.se_mrr, "ndcg_se": t.se_ndcg,
                "judged": t.judged, "hits": t.hits,
                "coverage": self.coverage, "intra_list_diversity": self.ild,
                "lists": self.lists, "events": self.events, "seconds": self.seconds,
                "note": self.note, "latency_buckets_ms": self.latency_buckets,
                "ranked_lists": self.ranked_lists, "asked_lists": self.asked_lists,
                "scored_lists": self.scored_lists, "ranker_weights": self.ranker,
                "curve": [{"bucket_start_ts": b * bucket_s, "judged": t.judged, "hr": t.hr,
                           "mrr": t.mrr, "ndcg": t.ndcg} for b, t in self.curve.items()]}



HEADER = ["configuration", "HR@{k} ± SE", "MRR@{k} ± SE", "NDCG@{k} ± SE", "judged", "coverage",
          "intra-list div.", "events/s"]


def build_report(log: EventLog, results: list[ConfigResult], k: int, bucket_s: float,
                 elapsed_s: float, judge_from: float = 0.0, backend: str = "broker"
                 ) -> tuple[Report, dict[str, Any]]:
    r = Report(f"streamrec evaluate: {log.name}")
    r.para(f"Run {dt.datetime.now().isoformat(timespec='seconds')} on {os.cpu_count()} cores, "
           f"{elapsed_s:.0f} s. Stream: {len(log.events):,} events of {log.users:,} users, "
           f"{len(log.catalog):,} catalog items. Mapping: {log.mapping}.")
    r.para("Protocol: prequential (test then train). Each event on an item new to its user "
           f"is judged against the top-{k} list that user held in Redis just before it (the "
           "list made after the user's previous event); lists exclude items the user already "
           "interacted with; users without a list yet are not judged; the same rule for every "
           "configuration. " + (
               "Every configuration is a real worker consuming the same topics of a real "
               "broker in its own consumer group (backend: broker); " if backend == "broker"
               else "Every configuration runs the worker's own batch processing in one "
               "process over an in-memory store, fed the same batches (backend: memory); ")
           + "River models learn inside their worker. Coverage: share of the catalog that "
           "appeared in any served top-K. events/s: this "
           "configuration's worker while all ran side by side (not a throughput benchmark).")
    if judge_from:
        r.para(f"Judged from {date(judge_from)} on: every configuration learned from the "
               "whole stream, but only events at or after that time were judged (a "
               "transformer trained on the events before it sees none of the judged ones).")
    if not any(c.get("category") for c in log.catalog):
        for x in results:          # unknown categories count as different: meaningless
            x.ild = float("nan")
        r.para("Intra-list diversity: n/a, the catalog of this log has no categories.")
    r.table(f"prequential ranking quality, K = {k}",
            [h.format(k=k) for h in HEADER], [x.row() for x in results])
    for x in results:
        if x.note:
            r.para(f"{x.name}: {x.note}")
    weighted = [x for x in results if x.ranker]
    if weighted:
        names = list(weighted[0].ranker)
        r.table("which components carry weight: the learned ranker's weight per feature at "
                "the end (log-odds per standard deviation of the feature; "
                "models/ranking.py FEATURES)", ["configuration", *names],
                [[x.name, *(x.ranker.get(n, float("nan")) for n in names)] for x in weighted])

    r.plot("hr_over_time", f"HR@{k} over event time (buckets with >= 20 judged events)",
           functools.partial(_curve, results, bucket_s, k))
    r.plot("metrics_by_config", f"HR, MRR and NDCG at {k} per configuration",
           functools.partial(_bars, results, k))
    r.plot("latency_histogram", "Event-to-list latency while the whole log is replayed at "
           "maximum rate (queueing included; see `streamrec bench` for latency at set loads)",
           functools.partial(_latency, results))
    raw = {"dataset": log.name, "mapping": log.mapping, "events": len(log.events),
           "users": log.users, "catalog_items": len(log.catalog), "k": k,
           "bucket_s": bucket_s, "elapsed_s": elapsed_s, "cores": os.cpu_count(),
           "protocol": "prequential, exact per event, items new to the user, seen excluded",
           "judged_from_ts": judge_from or None, "backend": backend,
           "results": [x.to_json(bucket_s) for x in results]}
    return r, raw


def _curve(results: list[ConfigResult], bucket_s: float, k: int, ax: Any) -> None:
    for x in results:
        pts = [(dt.datetime.fromtimestamp(b * bucket_s, dt.UTC), t.hr)
               for b, t in x.curve.items() if t.judged >= 20]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=".", label=x.name)
    ax.set_ylabel(f"HR@{k} (bucket of {bucket_s / 86400:.1f} days)")
    ax.set_xlabel("event time")
    ax.legend()
    ax.grid(alpha=0.3)


def _bars(results: list[ConfigResult], k: int, ax: Any) -> None:
    import numpy as np
    names = [x.name for x in results]
    pos = np.arange(len(names))
    for j, (label, get) in enumerate((("HR", lambda t: t.hr), ("MRR", lambda t: t.mrr),
                                      ("NDCG", lambda t: t.ndcg))):
        ax.bar(pos + (j - 1) * 0.27, [get(x.tally) for x in results], 0.27,
               label=f"{label}@{k}")
    ax.set_xticks(pos, names)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)


def _latency(results: list[ConfigResult], ax: Any) -> None:
    import numpy as np
    labels = [str(b) for b in LATENCY_BUCKETS_MS] + ["+Inf"]
    pos = np.arange(len(labels))
    shown = [x for x in results if x.latency_buckets]
    for j, x in enumerate(shown):
        ax.bar(pos + j * 0.8 / max(len(shown), 1), [x.latency_buckets.get(b, 0)
                                                    for b in labels],
               0.8 / max(len(shown), 1), label=x.name)
    ax.set_xticks(pos, [f"<={b}" for b in labels], rotation=45)
    ax.set_xlabel("event produced -> list written (ms)")
    ax.set_ylabel("lists")
    ax.legend()
