"""``streamrec evaluate --backend memory``: the same evaluation in one process, fast.

Each configuration runs the serving worker's own :class:`~.processor.Processor` (the same
parse, dedup, judging, learning and ranking code) over an in-memory store
(:class:`~streamrec.state.memory_store.MemoryStore`, which the store contract suite holds
to Redis's behaviour), fed the log in the batches a worker reads from its one partition.
No broker, no Redis, no worker processes: what costs the broker path its time (a round
trip per run of a batch, Kafka fetches, a Faust worker per configuration) is gone, and the
figures are the same (``docs/evaluation.md`` has both side by side). The broker path
(``--backend broker``) stays as the end-to-end check.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from streamrec.state.memory_store import MemoryStore
from streamrec.state.users import RedisUsers
from streamrec.streams.records import TOPIC_EVENTS
from streamrec.streams.settings import Settings
from streamrec.streams.tools.evaluate import (
    CONFIGS,
    ConfigResult,
    bucket_width,
    config_plan,
    config_settings,
    judging_settings,
    read_result,
)
from streamrec.streams.tools.evaluation import Evaluation, Plan
from streamrec.streams.tools.eventlog import EventLog
from streamrec.streams.tools.models_bridge import catalog_changes
from streamrec.streams.worker.processor import Message, Processor


def messages(log: EventLog, topic: str, batch: int) -> Iterator[list[Message]]:
    """The log as the worker reads it from the one-partition ``events`` topic that the
    broker path produces (``replay_events(mixed=True)``): same keys, values and offsets."""
    out: list[Message] = []
    now = time.time()
    for offset, (kind, ev) in enumerate(log.events):
        out.append(Message(topic, 0, offset, ev["user_id"].encode(),
                           orjson.dumps({**ev, "type": kind}), now))
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


async def run_config(name: str, s: Settings, plan: Plan, log: EventLog,
                     progress: bool = False, position: int = 0) -> ConfigResult:
    """One configuration over the whole log, in this process."""
    store = MemoryStore(half_life_s=s.ranking.half_life_s, covisit_cap=s.ranking.covisit_cap)
    await store.apply_catalog(catalog_changes(log.catalog))
    evaluation = Evaluation(plan)

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        return None                 # lists are in the store; the topics have no reader

    proc = Processor(s, store, RedisUsers(store), send, f"memory:{name}",
                     evaluation.scoring(), evaluation)
    t0 = time.monotonic()
    with tqdm(total=len(log.events), desc=f"{name:<12}", unit="ev", position=position,
              disable=not progress, mininterval=1.0) as bar:
        for batch in messages(log, s.topic(TOPIC_EVENTS), s.kafka.batch_size):
            await proc.process_events(batch)
            bar.update(len(batch))
    return await read_result(store, name, plan, time.monotonic() - t0)


def _run_one(name: str, s: Settings, plan: Plan, log: EventLog, progress: bool,
             position: int) -> ConfigResult:
    return asyncio.run(run_config(name, s, plan, log, progress, position))


async def run_evaluation_memory(settings: Settings, log: EventLog, configs: Sequence[str],
                                k: int, model_dir: Path | None = None,
                                progress: bool = True, parallel: int = 0,
                                judge_from: float = 0.0
                                ) -> tuple[list[ConfigResult], float]:
    """Evaluate ``configs`` on ``log`` in memory, ``parallel`` processes at a time (0 = one
    per core), judging from ``judge_from``; returns their results and the curve bucket
    width (as the broker path)."""
    from streamrec.streams.tools.evaluate import _rtrec
    bucket_s = bucket_width(log)
    base = judging_settings(settings, k, bucket_s)
    per = {n: config_settings(base, n, "mem") for n in configs if n in CONFIGS}
    parallel = parallel or os.cpu_count() or 1
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(min(parallel, max(len(configs), 1)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: dict[str, Any] = {
            n: loop.run_in_executor(pool, _run_one, n, s,
                                    config_plan(n, model_dir, judge_from,
                                                settings.serving.seed), log,
                                    progress, j)
            for j, (n, s) in enumerate(per.items())}
        if "rtrec" in configs:
            futures["rtrec"] = loop.run_in_executor(pool, _rtrec, log, k, bucket_s, False,
                                                    judge_from)
        got = {n: await f for n, f in futures.items()}
    return [got[n] for n in configs if n in got], bucket_s
