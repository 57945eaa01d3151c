"""``streamrec evaluate``: prequential evaluation through the real broker and workers.

One run, one stream, several configurations side by side:

1. the event log (:mod:`streamrec.streams.tools.eventlog`) and its catalog are produced ONCE
   into fresh topics of the broker (embedded Tansu unless ``STREAMREC_BROKER`` is set);
2. every configuration gets its own real worker process (``streamrec worker``) in its
   own consumer group with its own Redis keys, so each consumes the same events
   (``parallel`` workers at a time, by default one per core);
3. every event goes to the one mixed ``events`` topic, with one partition (the recorded
   order is kept: three per-kind topics are each read at their own pace) and the workers
   run with
   an evaluation plan installed (``streams/tools/evaluation.py``): each event on an item new
   to its user is
   judged against the top-K list that user held in Redis just before it (the list made
   after the user's previous event), then learned from. Lists exclude items the user
   already interacted with; users without a list yet are not judged. The same rule for
   every configuration;
4. River models (``mf``, ``ctr``, ``blend``) are trained inside their worker, test then
   train, event by event; a separate learner process would run ahead of the judging
   worker and leak future events into its scores;
5. HR@K, MRR@K, NDCG@K, catalog coverage and intra-list diversity over the stream, and
   HR@K over event time, are read back from Redis and written as a report (Markdown,
   PNG plots, results.json).

``transformer`` needs ``--model-dir`` (a model from ``streamrec train``, trained on data
BEFORE the evaluated stream, or its scores leak); its worker scores every list with that
model itself (no deadline: ``streams/tools/evaluation.py``), so the number measures the
model, not how many lists a scoring worker answered within the serving deadline
(``streamrec bench`` and the scorer's metrics measure that).
``rtrec`` (the outside baseline, when the ``rtrec`` package is installed) is fed the same
events in-process, under the same judging rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from streamrec.models.prequential import Tally
from streamrec.state.protocols import MetricsState
from streamrec.streams.dev.demo import start_worker, stop_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings
from streamrec.streams.tools.evaluate_report import ConfigResult, build_report, date
from streamrec.streams.tools.evaluation import Plan
from streamrec.streams.tools.eventlog import EventLog
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.tools.replay import Producer, replay_catalog, replay_events
from streamrec.streams.topics import ensure_topics

log = logging.getLogger(__name__)

# settings of each configuration, over the evaluation's base settings
CONFIGS: dict[str, dict[str, Any]] = {
    "trending": {"ranking": "trending", "river_weight": 0.0},
    "covisit": {"ranking": "covisit", "river_weight": 0.0},
    "mf": {"ranking": "mf"},
    "ctr": {"ranking": "ctr"},
    "blend": {"ranking": "blend"},
    "transformer": {"ranking": "blend", "river_weight": 0.0, "transformer_weight": 1.0},
    # what serves when a scorer runs: the blend with River, then the transformer's scores
    # at the serving weight (STREAMREC_TRANSFORMER_WEIGHT's default)
    "full": {"ranking": "blend", "transformer_weight": 0.5},
}
RIVER_CONFIGS = ("mf", "ctr", "blend", "full")   # River trained inline, test then train
MODEL_CONFIGS = ("transformer", "full")   # scored with --model-dir's model in their worker
DEFAULT_CONFIGS = ("trending", "covisit", "mf", "ctr", "blend")
ALL_CONFIGS = (*CONFIGS, "rtrec")


def check_configs(names: Sequence[str], model_dir: Path | None, judge_from: float = 0.0
                  ) -> list[str]:
    """Validate ``--configs``; errors name the option and the fix. ``transformer`` and
    ``full`` need a model trained only on events before ``judge_from`` (else its scores
    leak the future)."""
    out = []
    for n in names:
        if n not in ALL_CONFIGS:
            raise StreamrecError(f"--configs: unknown configuration {n!r}; choose from "
                                 f"{', '.join(ALL_CONFIGS)}")
        if n in MODEL_CONFIGS:
            if model_dir is None or not (model_dir / "config.json").exists():
                raise StreamrecError(f"--configs {n} needs --model-dir with a model "
                                     "from `streamrec train` (trained on data before the "
                                     "stream)")
            _check_not_leaking(model_dir, judge_from, n)
        if n == "rtrec":
            try:
                import rtrec  # noqa: F401
            except ImportError:
                raise StreamrecError("--configs rtrec needs the rtrec package: "
                                     "pip install rtrec") from None
        out.append(n)
    return out


def _check_not_leaking(model_dir: Path, judge_from: float, config: str) -> None:
    metrics = json.loads((model_dir / "metrics.json").read_text()) \
        if (model_dir / "metrics.json").exists() else {}
    until = metrics.get("trained_until")
    if until is None:
        raise StreamrecError(
            f"--configs {config}: the model in {model_dir} was trained on all of its data, "
            "so its scores would leak the events it is judged on; train it with "
            "`streamrec train --until DATE` and evaluate with --judge-from DATE")
    if judge_from < until:
        raise StreamrecError(
            f"--configs {config}: the model in {model_dir} was trained on events up to "
            f"{date(until)}; pass --judge-from {date(until)} (or later) so that only events "
            "it never saw are judged")


def bucket_width(log: EventLog, n_buckets: int = 40) -> float:
    ts = [e["ts"] for _, e in log.events]
    return max((max(ts) - min(ts)) / n_buckets, 1.0)


def judging_settings(settings: Settings, k: int, bucket_s: float) -> Settings:
    """The settings every configuration is judged under (both backends)."""
    return settings.replace(k=k, content_weight=0.0, candidate_cache_ms=0,
                            prequential_bucket_s=bucket_s)


def config_settings(base: Settings, name: str, run: str) -> Settings:
    """One configuration's settings: its own consumer group and Redis keys."""
    return base.replace(app_id=f"{run}-{name}",
                        redis_prefix=f"{base.redis.redis_prefix}{run}:{name}:", **CONFIGS[name])


def config_plan(name: str, model_dir: Path | None, judge_from: float, seed: int) -> Plan:
    """What the evaluation installs into the configuration's worker."""
    return Plan(exact=True, judge_from=judge_from, river=name in RIVER_CONFIGS,
                model_dir=str(model_dir) if name in MODEL_CONFIGS and model_dir else "",
                seed=seed)


async def read_result(store: MetricsState, name: str, plan: Plan, seconds: float
                      ) -> ConfigResult:
    """A configuration's figures, from the metrics its worker wrote."""
    m, lat, workers = await store.read_metrics()
    t = Tally(int(m.get("preq_judged", 0)), int(m.get("preq_hits", 0)),
              m.get("preq_rr", 0.0), m.get("preq_ndcg", 0.0), m.get("preq_rr2", 0.0),
              m.get("preq_ndcg2", 0.0))
    ranked, scored = int(m.get("lists_ranked_total", 0)), int(m.get("lists_model_total", 0))
    asked = int(m.get("lists_asked_total", 0))
    note = (f"{scored:,} of {ranked:,} lists ({scored / max(ranked, 1):.1%}) ranked with "
            f"transformer scores, computed inside the worker without a deadline "
            f"({ranked - asked:,} had no candidates to score)"
            if plan.model_dir else "")
    return ConfigResult(
        name, t, await store.read_curve(), m["served_items"] / max(m["catalog_items"], 1),
        m.get("ild_sum", 0) / max(m.get("ild_count", 1), 1), int(m.get("recs_total", 0)),
        int(m.get("events_total", 0)), seconds, lat, note=note, ranked_lists=ranked,
        asked_lists=asked, scored_lists=scored,
        ranker=next((i["ranker"] for i in workers.values() if i.get("ranker")), {}))


async def run_evaluation(settings: Settings, log: EventLog, configs: Sequence[str], k: int,
                         model_dir: Path | None = None, progress: bool = True,
                         idle_timeout_s: float = 180.0, parallel: int = 0,
                         judge_from: float = 0.0) -> tuple[list[ConfigResult], float]:
    """Evaluate ``configs`` on ``log``, ``parallel`` workers at a time (0 = one per core),
    judging events from ``judge_from`` on; returns their results and the curve bucket
    width."""
    bucket_s = bucket_width(log)
    parallel = parallel or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        if not settings.kafka.broker:
            settings = settings.replace(broker=stack.enter_context(TansuBroker()).bootstrap)
        if not settings.redis.redis_url:
            settings = settings.replace(redis_url=stack.enter_context(RedisServer()).url)
        if not settings.serving.snapshot_key:    # the run's own learner and workers
            settings = settings.replace(snapshot_key=secrets.token_hex(32))
        run = "ev" + uuid.uuid4().hex[:8]
        # one partition of one topic: every worker sees the stream in its recorded order; a
        # long session timeout: a worker starved of CPU must not leave its group mid-stream
        base = judging_settings(settings, k, bucket_s).replace(
            topic_prefix=f"{settings.kafka.topic_prefix}{run}.", partitions=1,
            session_timeout_s=60.0)
        await ensure_topics(base)
        per = {name: config_settings(base, name, run) for name in configs if name in CONFIGS}
        seed = settings.serving.seed
        plans = {name: config_plan(name, model_dir, judge_from, seed) for name in per}
        procs: list[subprocess.Popen] = []
        stack.callback(lambda: [stop_worker(p) for p in procs])
        async with Producer(base) as producer:     # the stream, produced once
            await replay_catalog(producer, log.catalog)
            # one topic for every kind: three topics would each be read at its own pace
            # (measured: a worker had read every click while a fifth of the views), so
            # clicks would overtake the views before them
            await replay_events(producer, log.events, 0, mixed=True)
        results: list[ConfigResult] = []
        # rtrec (in a process of its own) takes one of the parallel slots, in the last wave
        names = [*per, *(["rtrec"] if "rtrec" in configs else [])]
        for start in range(0, len(names), parallel):
            wave = {n: per[n] for n in names[start:start + parallel] if n in per}
            outside = None
            if "rtrec" in names[start:start + parallel]:
                pool = stack.enter_context(
                    ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")))
                outside = asyncio.get_running_loop().run_in_executor(
                    pool, _rtrec, log, k, bucket_s, progress and not wave, judge_from)
            workers = {}
            for name, s in wave.items():
                async with s.open_store() as store:
                    await store.apply_catalog(catalog_changes(log.catalog))   # no race
                workers[name] = start_worker(s, "", [plans[name].to_json()],
                                             module="streamrec.streams.tools.evaluation")
                procs.append(workers[name])
            if wave:
                results += await _drive(log, wave, plans, workers, progress, idle_timeout_s)
            for p in workers.values():
                stop_worker(p)
            if outside is not None:
                results.append(await outside)
        return [r for n in configs for r in results if r.name == n], bucket_s


async def _drive(log: EventLog, per: dict[str, Settings], plans: dict[str, Plan],
                 workers: dict[str, subprocess.Popen], progress: bool, idle_timeout_s: float
                 ) -> list[ConfigResult]:
    """Wait for the workers of ``per`` to process the whole stream; read their results."""
    stores = {n: s.open_store() for n, s in per.items()}
    try:
        async def counts() -> dict[str, int]:
            out = {}
            for n, st in stores.items():
                m, _, _ = await st.read_metrics()
                out[n] = int(m.get("events_total", 0) + m.get("dlq_total", 0))
            return out

        t0 = time.monotonic()
        bars = {n: tqdm(total=len(log.events), desc=f"{n:<12}", unit="ev", position=i,
                        disable=not progress, leave=True, mininterval=1.0)
                for i, n in enumerate(per)}
        done_at: dict[str, float] = {}

        def update(c: dict[str, int]) -> None:
            for n, v in c.items():
                bars[n].update(v - bars[n].n)
                if v >= len(log.events) and n not in done_at:
                    done_at[n] = time.monotonic()
                    # its results are in Redis: stop it now, so that it no longer polls the
                    # broker (Tansu's memory store spent ~1.3 cores on finished workers'
                    # fetches at the end of a 162k-event topic) while others finish
                    workers[n].send_signal(signal.SIGTERM)
        try:
            await _wait(counts, len(log.events), workers, idle_timeout_s,
                        "every worker to process the stream", update)
        finally:
            for b in bars.values():
                b.close()
        out = [await read_result(st, n, plans[n], done_at.get(n, time.monotonic()) - t0)
               for n, st in stores.items()]
        return out
    finally:
        for st in stores.values():
            await st.aclose()


async def _wait(read, target: int, workers: dict[str, subprocess.Popen], idle_timeout_s: float,
                what: str, on_counts=None) -> None:
    """Poll ``read()`` (counts per configuration) until all reach ``target``; fail when a
    worker exits or nothing moves for ``idle_timeout_s``."""
    last, moved = None, time.monotonic()
    while True:
        c = await read()
        if on_counts:
            on_counts(c)
        if all(v >= target for v in c.values()):
            return
        for n, p in workers.items():
            if p.poll() is not None and c.get(n, 0) < target:
                raise StreamrecError(f"the {n} worker exited with {p.returncode} while waiting "
                                     f"for {what}")
        if c != last:
            last, moved = c, time.monotonic()
        elif time.monotonic() - moved > idle_timeout_s:
            raise StreamrecError(f"no progress for {idle_timeout_s:.0f}s waiting for {what}: "
                                 f"{c} of {target}")
        await asyncio.sleep(0.5)


def _rtrec(log: EventLog, k: int, bucket_s: float, progress: bool, judge_from: float = 0.0
           ) -> ConfigResult:
    from streamrec.models.baselines import RtrecBaseline

    t0 = time.monotonic()
    base = RtrecBaseline(k=k)
    tally, curve = base.run(log.events, bucket_s, progress, judge_from)
    return ConfigResult("rtrec", tally, curve, base.coverage(len(log.catalog)), float("nan"),
                        base.lists, len(log.events), time.monotonic() - t0,
                        note=base.note)


async def evaluate(settings: Settings, log: EventLog, configs: Sequence[str], k: int,
                   out: Path, model_dir: Path | None = None, progress: bool = True,
                   parallel: int = 0, backend: str = "broker", judge_from: float = 0.0
                   ) -> Path:
    """Run the evaluation (``backend``: "broker", real workers; "memory", the same worker
    code in one process: ``evaluate_memory.py``), print the summary table and write the
    report; returns report.md."""
    t0 = time.monotonic()
    if backend == "memory":
        from streamrec.streams.tools.evaluate_memory import run_evaluation_memory
        results, bucket_s = await run_evaluation_memory(settings, log, configs, k, model_dir,
                                                        progress, parallel, judge_from)
    else:
        results, bucket_s = await run_evaluation(settings, log, configs, k, model_dir,
                                                 progress, parallel=parallel,
                                                 judge_from=judge_from)
    report, raw = build_report(log, results, k, bucket_s, time.monotonic() - t0,
                               judge_from, backend)
    print("\n" + report.tables_text(), flush=True)
    path = report.save(out, raw)
    print(f"\nreport: {path}", flush=True)
    return path
