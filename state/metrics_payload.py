"""One batch's counters as the payload both backends apply (``state/lua/metrics.lua`` and
``commit.lua`` on Redis; :class:`~streamrec.state.memory_store.MemoryStore` in process).

>>> p = orjson.loads(metrics_payload(events=2, dlq=0, recs=1, catalog=0, latencies_ms=[3.0],
...                                  worker="w", worker_info={}))
>>> p["i"][:2], p["lat"] if "lat" in p else [x for x in p["i"] if x[0] == "lat"]
([['metrics', 'events_total', 2], ['metrics', 'recs_total', 1]], [['lat', '5', 1]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from streamrec.models.experiments import VariantStats
from streamrec.models.prequential import Tally

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def metrics_payload(*, events: int, dlq: int, recs: int, catalog: int,
                    dlq_reasons: Mapping[str, int] | None = None,
                    latencies_ms: Sequence[float], worker: str,
                    worker_info: dict[str, Any], served: Sequence[str] = (),
                    diversity: Sequence[float] = (), tally: Tally | None = None,
                    curve: dict[int, Tally] | None = None, ranked_lists: int = 0,
                    duplicates: int = 0, forgotten: int = 0,
                    asked_lists: int = 0, model_lists: int = 0) -> bytes:
    """One batch's counters, for the metrics script: events, DLQ (``dlq_reasons``: how many
    of each kind of reason, ``metrics`` fields ``dlq:{kind}``), events of forgotten users
    skipped, lists written, lists ranked
    (``asked_lists`` of them sent for transformer scores, ``model_lists`` ranked with
    them), latency histogram, served items, diversity and prequential sums (``preqc``
    holds the curve: ``{bucket}:{field}``)."""
    buckets: dict[str, int] = {}
    for ms in latencies_ms:
        for le in LATENCY_BUCKETS_MS:
            if ms <= le:
                buckets[str(le)] = buckets.get(str(le), 0) + 1
                break
        else:
            buckets["+Inf"] = buckets.get("+Inf", 0) + 1
    ints: list[tuple[str, str, int]] = [
        ("metrics", name, n) for name, n in (("events_total", events), ("dlq_total", dlq),
                                             ("duplicates_total", duplicates),
                                             ("forgotten_total", forgotten),
                                             ("recs_total", recs),
                                             ("lists_ranked_total", ranked_lists),
                                             ("lists_asked_total", asked_lists),
                                             ("lists_model_total", model_lists),
                                             ("catalog_total", catalog)) if n]
    ints += [("metrics", f"dlq:{kind}", n) for kind, n in (dlq_reasons or {}).items() if n]
    floats: list[tuple[str, str, float]] = []
    if latencies_ms:
        floats.append(("metrics", "latency_sum_ms", float(sum(latencies_ms))))
        ints.append(("metrics", "latency_count", len(latencies_ms)))
    ints += [("lat", le, n) for le, n in buckets.items()]
    if tally is not None and tally.judged:
        ints += [("metrics", "preq_hits", tally.hits),
                 ("metrics", "preq_judged", tally.judged)]
        floats += [("metrics", "preq_rr", tally.rr), ("metrics", "preq_ndcg", tally.ndcg_sum),
                   ("metrics", "preq_rr2", tally.rr2), ("metrics", "preq_ndcg2", tally.ndcg2)]
    for b, t in (curve or {}).items():
        ints += [("preqc", f"{b}:judged", t.judged), ("preqc", f"{b}:hits", t.hits)]
        floats += [("preqc", f"{b}:rr", t.rr), ("preqc", f"{b}:ndcg", t.ndcg_sum)]
    if diversity:
        floats.append(("metrics", "ild_sum", float(sum(diversity))))
        ints.append(("metrics", "ild_count", len(diversity)))
    return orjson.dumps({"i": ints, "f": floats,
                         "w": [worker, orjson.dumps(worker_info).decode()],
                         "s": list(dict.fromkeys(served))})


def parse_curve(fields: dict[str, Any]) -> dict[int, Tally]:
    """The prequential curve from its hash (``{bucket}:{judged|hits|rr|ndcg}`` -> value):
    event-time bucket -> sums of its judged events."""
    out: dict[int, Tally] = {}
    for f, v in fields.items():
        b, name = f.split(":")
        t = out.setdefault(int(b), Tally())
        if name in ("judged", "hits"):
            setattr(t, name, int(v))
        else:
            setattr(t, "rr" if name == "rr" else "ndcg_sum", float(v))
    return dict(sorted(out.items()))


def parse_stats(fields: dict[str, Any]) -> dict[str, VariantStats]:
    """An experiment's statistics from its hash (``{variant}:{stat}`` -> value)."""
    out: dict[str, VariantStats] = {}
    for f, value in fields.items():
        variant, _, stat = f.rpartition(":")
        vs = out.setdefault(variant, VariantStats())
        setattr(vs, stat, float(value) if stat == "reward" else int(value))
    return out
