"""The cluster's figures for ``/metrics``, read from Redis: what the workers, the learner
and the scorer wrote (``state/keys.py``: ``metrics``, ``lat``, ``workers``,
``model:metrics``, ``scorer``, ``expstats:{name}``), as Prometheus metric families
labelled ``scope="cluster"`` (``streams/api/metrics.py``)."""

from __future__ import annotations

import time
from typing import Any

from streamrec.models.experiments import report
from streamrec.state.metrics_payload import LATENCY_BUCKETS_MS
from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.metrics import Families

LIVE_S = 30.0      # a worker's per-process figures are shown while it beat this recently
COUNTERS = (
    ("streamrec_events_total", "events_total", "valid events applied, each once"),
    ("streamrec_dlq_total", "dlq_total", "messages sent to the dead-letter topic"),
    ("streamrec_duplicates_total", "duplicates_total", "events dropped because their "
     "event_id was applied recently (STREAMREC_DEDUP_WINDOW)"),
    ("streamrec_forgotten_events_total", "forgotten_total", "events of users forgotten on "
     "request (DELETE /users/{id}), skipped"),
    ("streamrec_recommendations_total", "recs_total", "recommendation lists written"),
    ("streamrec_lists_ranked_total", "lists_ranked_total",
     "lists ranked (recommendations_total counts those written)"),
    ("streamrec_lists_model_asked_total", "lists_asked_total",
     "lists sent for transformer scores (asked minus scored = fallbacks)"),
    ("streamrec_lists_model_scored_total", "lists_model_total",
     "lists ranked with transformer scores (the others fell back to the heuristic ranking)"),
    ("streamrec_catalog_updates_total", "catalog_total", "catalog updates applied"))
SCORER = (("scorer_requests_total", "counter", "scored requests", "requests"),
          ("scorer_requests_per_second", "gauge", "requests/s, last second", "requests_per_s"),
          ("scorer_queue_wait_seconds_total", "counter", "summed queue wait", "queue_wait_s"),
          ("scorer_compute_seconds_total", "counter", "summed forward-pass time", "compute_s"),
          ("scorer_queued", "gauge", "requests waiting for a batch", "queued"))
EXPERIMENT = (("impressions", "counter", "lists served under the experiment"),
              ("successes", "counter", "impressions with a click or purchase"),
              ("clicks", "counter", "attributed clicks"),
              ("purchases", "counter", "attributed purchases"),
              ("ctr", "gauge", "successes / impressions"),
              ("ctr_lower", "gauge", "lower end of the CTR's 95% Wilson interval"),
              ("ctr_upper", "gauge", "upper end of the CTR's 95% Wilson interval"),
              ("p_best", "gauge", "posterior probability of being best"),
              ("regret", "gauge", "estimated successes lost vs the best"))


async def cluster_figures(store: RedisStore, k: int) -> Families:
    fams = Families()
    await _pipeline(fams, store, k)
    await _models(fams, store)
    await _experiments(fams, store)
    return fams


def _ratio(m: dict[str, float], num: str, den: str) -> float:
    return m.get(num, 0) / m[den] if m.get(den) else 0.0


async def _pipeline(fams: Families, store: RedisStore, k: int) -> None:
    """The workers' counters, quality figures, per-worker rate and lag, latency."""
    m, lat, workers = await store.read_metrics()
    now = time.time()
    live = {w: i for w, i in workers.items() if now - i.get("ts", 0) < LIVE_S}
    for name, key, help_ in COUNTERS:
        fams.counter(name, help_, m.get(key, 0))
    fams.labelled("streamrec_dlq_reason", "counter", "messages sent to the dead-letter topic, "
                  "by kind of reason (streams/validate.py: REASONS)", ["reason"],
                  [((f[4:],), n) for f, n in sorted(m.items()) if f.startswith("dlq:")])
    fams.gauge("streamrec_sold_out_items", "catalog items out of stock now (left out of "
               "every served list)", m.get("sold_out_items", 0))
    fams.gauge("streamrec_prequential_hit_rate", f"share of views whose item was in the "
               f"user's top-{k} list just before", _ratio(m, "preq_hits", "preq_judged"))
    fams.gauge("streamrec_intra_list_diversity", "mean category dissimilarity within "
               "served top-K lists", _ratio(m, "ild_sum", "ild_count"))
    fams.gauge("streamrec_catalog_coverage", "share of the catalog served in some list "
               "(HyperLogLog estimate)", _ratio(m, "served_items", "catalog_items"))
    fams.labelled("streamrec_events_per_second", "gauge", "events/s over the last second, "
                  "by worker", ["worker"], [((w,), i.get("events_per_s", 0))
                                            for w, i in live.items()])
    fams.labelled("streamrec_consumer_lag", "gauge", "messages behind the end of the event "
                  "topics", ["worker"], [((w,), i.get("lag", 0)) for w, i in live.items()])
    fams.labelled("streamrec_consumer_partition_lag", "gauge", "messages behind the end of "
                  "each partition the worker (or the learner) reads",
                  ["worker", "topic", "partition"],
                  [((w, *tp.rpartition(":")[::2]), n) for w, i in live.items()
                   for tp, n in sorted((i.get("partitions") or {}).items())])
    fams.labelled("streamrec_ranker_weight", "gauge", "the learned ranker's weight per "
                  "feature (standardised: log-odds per standard deviation), by worker; which "
                  "ranking components carry weight on this stream", ["worker", "feature"],
                  [((w, f), x) for w, i in live.items()
                   for f, x in sorted((i.get("ranker") or {}).items())])
    cum, buckets = 0, []
    for le in [*map(str, LATENCY_BUCKETS_MS), "+Inf"]:
        cum += lat.get(le, 0)
        buckets.append((le, cum))
    fams.histogram("streamrec_event_to_rec_latency_ms", "ms from event produced to the "
                   "user's list written to Redis", buckets, m.get("latency_sum_ms", 0))


async def _models(fams: Families, store: RedisStore) -> None:
    """The learner's and the scorer's figures."""
    mm = await store.read_model_metrics()
    sc = await store.read_scorer_metrics()
    info = [(("river", str(mm.get("version", "")), ""), 1.0)] if mm else []
    if sc:
        info.append((("transformer", str(sc.get("model_version", "")),
                      str(sc.get("device", ""))), 1.0))
    fams.labelled("streamrec_model_info", "gauge", "the model versions in use: the River "
                  "snapshot (learner) and the transformer (scorer)",
                  ["component", "version", "device"], info)
    if mm:
        for name, key, help_ in (
                ("model_ctr_logloss", "ctr_logloss", "prequential log loss of the CTR model"),
                ("model_ctr_auc", "ctr_auc", "prequential ROC AUC of the CTR model"),
                ("model_ctr_examples", "ctr_examples", "labelled exposures learned"),
                ("model_snapshot_version", "version", "newest River snapshot")):
            fams.gauge(f"streamrec_{name}", help_, mm.get(key, 0))
    if sc:
        sizes = {int(s): v for s, v in sc["batch_sizes"].items()}
        buckets: list[tuple[str, float]] = [
            (str(le), sum(v for s, v in sizes.items() if s <= le))
            for le in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)]
        fams.histogram("streamrec_scorer_batch_size", "scored requests per forward pass",
                       [*buckets, ("+Inf", sc["batches"])], sc["requests"])
        for name, kind, help_, key in SCORER:
            fams.labelled(f"streamrec_{name}", kind, help_, (), [((), sc[key])])


async def _experiments(fams: Families, store: RedisStore) -> None:
    exps = await store.list_experiments()
    rows: list[tuple[str, dict[str, Any]]] = [
        (e.name, report(e, await store.experiment_stats(e.name))) for e in exps]
    for rep in (r for _, r in rows):
        for r in rep.values():
            r["ctr_lower"], r["ctr_upper"] = r["ctr_95"]
    for stat, kind, help_ in EXPERIMENT:
        fams.labelled(f"streamrec_experiment_{stat}", kind, help_, ["experiment", "variant"],
                      [((name, v), r[stat]) for name, rep in rows for v, r in rep.items()])
    fams.labelled("streamrec_experiment_status", "gauge", "1 for the experiment's status "
                  "(running, paused or stopped)", ["experiment", "status"],
                  [((e.name, e.status), 1.0) for e in exps])
