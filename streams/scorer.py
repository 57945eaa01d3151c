"""``streamrec scorer``: score candidates with the sequential transformer, micro-batched.

Consumes ``score.requests`` (JSON: ``request_id``, ``sequence`` [item ids, oldest first],
``candidates`` [item ids], ``reply_partition``) and publishes one ``score.results`` message
per request (``request_id``, ``scores`` aligned with ``candidates``, null for items the
model does not know, ``model_version``), on the partition the request names: each worker
reads only its own. Requests are gathered by size and by a maximum wait, padded,
scored in one forward pass (``cuda`` with mixed precision when present, else CPU) and
answered individually. The request queue is bounded: when it is full the scorer stops
fetching. Offsets are committed only after the results are sent (at-least-once).
A newer model saved into ``--model-dir`` is loaded in the background and swapped in
between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson
import torch
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamrec.models.batcher import MicroBatcher
from streamrec.models.device import pick_device
from streamrec.models.sequential import SeqRec, load, saved_version
from streamrec.streams import schemas
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.messages import Message, dead_letter, log_rejection
from streamrec.streams.schemas import ScoreRequest
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, decode

log = logging.getLogger(__name__)

TOPIC_REQUESTS = "score.requests"
TOPIC_RESULTS = "score.results"


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scorer task %s failed", task.get_coro().__name__, exc_info=task.exception())


class BadRequest(ValueError):
    pass


_REQUEST = msgspec.json.Decoder(ScoreRequest)
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def parse_request(raw: bytes | None) -> dict[str, Any]:
    """Decode one request with its schema, ``schemas.ScoreRequest`` (raises BadRequest
    with the reason)."""
    req = decode(raw, MAX_REQUEST_BYTES, _REQUEST)
    if isinstance(req, Rejection):
        raise BadRequest(req.reason)
    return msgspec.structs.asdict(req)


class ModelScorer:
    """A loaded model plus its item index: the batched scoring function."""

    def __init__(self, model: SeqRec, item_ids: list[str], version: str, device: str) -> None:
        self.model = model
        self.index = {item: i + 1 for i, item in enumerate(item_ids)}
        self.version = version
        self.device = device

    @classmethod
    def from_dir(cls, folder: Path, device: str) -> ModelScorer:
        model, items = load(folder, device)
        return cls(model, items, model_version(folder), device)

    def __call__(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        seqs = [[self.index[str(i)] for i in r["sequence"] if str(i) in self.index]
                for r in requests]
        cands = [[self.index.get(str(i), 0) for i in r["candidates"]] for r in requests]
        with torch.inference_mode(), (
                torch.autocast("cuda", dtype=torch.bfloat16) if self.device == "cuda"
                else contextlib.nullcontext()):
            scores = self.model.score(seqs, cands).float().cpu()
        out = []
        for r, c, row in zip(requests, cands, scores, strict=True):
            vals = row[: len(c)].tolist()
            out.append({"request_id": r["request_id"], "model_version": self.version,
                        "scores": [v if ci else None for v, ci in zip(vals, c, strict=True)]})
        return out


def model_version(folder: Path) -> str:
    return saved_version(folder)


class NoModel:
    """The scoring function of a scorer started before its model exists
    (``--wait-for-model``): every request is answered at once with an error, so workers
    rank without the model instead of waiting for their deadline, until the model is
    saved into the folder and hot-loaded."""

    version = "none"
    error = "the scorer has no model yet"

    def __call__(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"request_id": r["request_id"], "error": self.error} for r in requests]


class InlineScoring:
    """Transformer scores computed inside the worker, for ``streamrec evaluate``: every
    list is scored, whatever it takes, so a model's HR is not mixed with lists that fell
    back to the heuristic order when the scoring worker missed the serving deadline
    (measured: 47% of them on a 2-core machine under a full-speed replay). Serving uses
    :class:`~streamrec.streams.worker.scoring_client.ScoringClient` and its deadline.

    ``score`` has the client's contract: {key: (sequence oldest first, candidates)} ->
    {key: {"scores", "model_version"}}; ``deadline_s`` is ignored.
    """

    def __init__(self, model_dir: Path | str, device: str | None = None,
                 max_batch: int = 64) -> None:
        self.scorer = ModelScorer.from_dir(Path(model_dir), pick_device(device))
        self.max_batch = max_batch
        self.answered = 0
        self.timed_out = 0      # always 0: nothing waits on a deadline

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def score(self, requests: dict[str, tuple[list[str], list[str]]], deadline_s: float
                    ) -> dict[str, dict[str, Any] | None]:
        reqs = [{"request_id": key, "sequence": seq, "candidates": cands}
                for key, (seq, cands) in requests.items()]
        out: dict[str, dict[str, Any] | None] = {}
        for j in range(0, len(reqs), self.max_batch):
            for res in await asyncio.to_thread(self.scorer, reqs[j: j + self.max_batch]):
                out[res["request_id"]] = res
        self.answered += len(out)
        return out


class Scorer:
    def __init__(self, settings: Settings, model_dir: Path, *, max_batch: int = 64,
                 max_wait_ms: float = 5.0, queue_size: int = 1024, device: str | None = None,
                 reload_every_s: float = 2.0, embed_catalog: bool = False,
                 content_neighbours: int = 50, wait_for_model: bool = False) -> None:
        self.settings = settings
        self.model_dir = Path(model_dir)
        self.device = pick_device(device)
        self.reload_every_s = reload_every_s
        self.scorer: ModelScorer | NoModel = (
            NoModel() if wait_for_model and not has_model(self.model_dir)
            else ModelScorer.from_dir(self.model_dir, self.device))
        self.batcher = MicroBatcher(self.scorer, max_batch=max_batch, max_wait_ms=max_wait_ms,
                                    queue_size=queue_size, in_thread=True)
        self.answered = 0
        self.embedded = 0
        self.embed_catalog = embed_catalog
        self.content_neighbours = content_neighbours
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            s.topic(TOPIC_REQUESTS), bootstrap_servers=s.kafka.broker,
            group_id=f"{s.kafka.app_id}-scorer",
            **client_kwargs(s),
            enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=s.kafka.fetch_max_wait_ms,
            max_poll_records=self.batcher.max_batch * 4,
            rebalance_timeout_ms=3000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka.broker, linger_ms=1,
                                    **client_kwargs(s))
        await consumer.start()
        await producer.start()
        # (partition, offset, answer to come or rejection, reply partition)
        pending: deque[tuple[TopicPartition, int, asyncio.Future | dict, int | None]] = deque()
        more = asyncio.Event()
        tasks = [asyncio.create_task(self.batcher.run()),
                 asyncio.create_task(self._answer(pending, more, producer, consumer)),
                 asyncio.create_task(self._reload()),
                 asyncio.create_task(self._publish_metrics())]
        if self.embed_catalog:
            tasks.append(asyncio.create_task(self._embed_catalog()))
        for t in tasks:
            t.add_done_callback(_log_crash)
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=100)
                for tp, msgs in batch.items():
                    for m in msgs:
                        try:
                            req = parse_request(m.value)
                        except BadRequest as e:
                            pending.append((tp, m.offset, {"error": str(e), "key": m.key,
                                                           "value": m.value}, None))
                        else:  # waits while the queue is full: backpressure, no drops
                            pending.append((tp, m.offset, await self.batcher.enqueue(req),
                                            req.get("reply_partition")))
                        more.set()
        finally:
            await self.batcher.close()
            await tasks[0]
            while pending:  # answer what was fetched before stopping
                more.set()
                await asyncio.sleep(0.01)
            for t in tasks[1:]:
                t.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            await producer.stop()
            await consumer.stop()

    async def _answer(self, pending: deque, more: asyncio.Event, producer: AIOKafkaProducer,
                      consumer: AIOKafkaConsumer) -> None:
        results, dlq = self.settings.topic(TOPIC_RESULTS), self.settings.topic("events.dlq")
        reply_to = await producer.partitions_for(results)
        last_commit = time.monotonic()
        to_commit: dict[TopicPartition, int] = {}
        while True:
            if not pending:
                more.clear()
                await more.wait()
                continue
            tp, offset, fut, part = pending[0]
            if isinstance(fut, dict):
                msg = Message(tp.topic, tp.partition, offset, fut["key"], fut["value"], 0.0)
                log_rejection(log, msg, fut["error"], "bad_request")
                await producer.send(dlq, key=fut["key"],
                                    value=dead_letter(msg, fut["error"], "bad_request"))
            else:
                try:
                    res = await fut
                except Exception as e:  # a failed batch: answer with the error
                    res = {"request_id": None, "error": f"scoring failed: {e}"}
                if part is not None and part not in reply_to:     # partitions were added
                    reply_to = await producer.partitions_for(results)
                await producer.send(results, key=(res.get("request_id") or "").encode(),
                                    value=schemas.encode(schemas.ScoreResult(**res)),
                                    partition=part if part in reply_to else None)
                self.answered += 1
            pending.popleft()
            to_commit[tp] = offset + 1
            if time.monotonic() - last_commit > 0.5 or not pending:
                await producer.flush()
                await consumer.commit(dict(to_commit))
                to_commit.clear()
                last_commit = time.monotonic()

    async def _embed_catalog(self) -> None:
        """Embed titles and categories from ``catalog.updates`` in batches; write each
        changed item's most similar items to Redis ``cs:{item}`` (content candidates)."""

        from streamrec.models.content import ContentIndex
        from streamrec.models.text_encoder import TextEncoder, item_text
        from streamrec.streams.validate import parse_catalog

        s = self.settings
        encoder = await asyncio.to_thread(TextEncoder, s.serving.text_encoder_dir or None,
                                          self.device)
        index = ContentIndex(encoder.dim)
        texts: dict[str, str] = {}
        keys = s.keyspace()
        r = keys.client(s.redis.redis_url)
        consumer = AIOKafkaConsumer(
            s.topic("catalog.updates"), bootstrap_servers=s.kafka.broker, group_id=None,
            auto_offset_reset="earliest", fetch_max_wait_ms=s.kafka.fetch_max_wait_ms,
            **client_kwargs(s))
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=512)
                changed: dict[str, str] = {}
                for msgs in batch.values():
                    for m in msgs:
                        c = parse_catalog(m.value, s.serving.max_event_bytes)
                        if isinstance(c, Rejection) or c.title is None:
                            continue  # the worker dead-letters bad updates
                        text = item_text(c.title, c.category)
                        if texts.get(c.item_id) != text:
                            texts[c.item_id] = changed[c.item_id] = text
                if not changed:
                    continue
                ids = list(changed)
                vecs = await asyncio.to_thread(encoder.encode, [changed[i] for i in ids])
                index.add(ids, vecs)
                async with r.pipeline(transaction=False) as pipe:
                    pipe.hset(keys.key("emb"), mapping={
                        i: v.astype("float16").tobytes() for i, v in zip(ids, vecs, strict=True)})
                    for i in ids:
                        key = keys.key("cs:" + i)
                        pipe.delete(key)
                        sims = index.similar(i, self.content_neighbours)
                        if sims:
                            pipe.zadd(key, {j: max(sim, 0.0) for j, sim in sims})
                    await pipe.execute()
                self.embedded += len(ids)
        finally:
            await consumer.stop()
            await r.aclose()

    async def _publish_metrics(self) -> None:
        """Every second: batch sizes, queue wait, compute time and requests/s to Redis
        (key ``scorer``), where the API's /metrics shows them. No Redis, no metrics."""
        if not self.settings.redis.redis_url:
            return
        keys = self.settings.keyspace()
        r = keys.client(self.settings.redis.redis_url)
        key = keys.key("scorer")
        last_n, last_t = 0, time.monotonic()
        try:
            while True:
                await asyncio.sleep(1.0)
                st, now = self.batcher.stats, time.monotonic()
                rate = (st.requests - last_n) / (now - last_t)
                last_n, last_t = st.requests, now
                await r.set(key, orjson.dumps({
                    "requests": st.requests, "batches": st.batches,
                    "batch_sizes": {str(k): v for k, v in st.batch_sizes.items()},
                    "queue_wait_s": st.queue_wait_s, "compute_s": st.compute_s,
                    "requests_per_s": rate, "queued": self.batcher.queued,
                    "model_version": self.scorer.version, "device": self.device,
                    "ts": time.time()}))
        finally:
            await r.aclose()

    async def _reload(self) -> None:
        current = self.scorer.version
        while True:
            await asyncio.sleep(self.reload_every_s)
            try:
                version = model_version(self.model_dir)
                if version != current:
                    new = await asyncio.to_thread(ModelScorer.from_dir, self.model_dir,
                                                  self.device)
                    self.batcher.swap(new, new.version)
                    self.scorer, current = new, new.version
                    log.warning("scorer: now serving %s", new.version)
            except (OSError, ValueError) as e:  # a save in progress: try again later
                log.info("scorer: reload skipped: %s", e)


def has_model(folder: Path) -> bool:
    return (Path(folder) / "model.safetensors").exists()


def main(settings: Settings) -> int:
    """Run the scorer with ``settings`` until SIGINT or SIGTERM."""
    s = settings
    if not s.kafka.broker:
        raise StreamrecError("STREAMREC_BROKER (or --broker) is required, e.g. 127.0.0.1:9092")
    if not (has_model(Path(s.serving.scorer_model_dir)) or s.serving.scorer_wait_for_model):
        raise StreamrecError(f"STREAMREC_SCORER_MODEL_DIR (--model-dir) "
                             f"{s.serving.scorer_model_dir}: "
                             "no model.safetensors; run `streamrec train --out DIR` first, "
                             "or set STREAMREC_SCORER_WAIT_FOR_MODEL=true")
    if s.serving.scorer_embed_catalog and not s.redis.redis_url:
        raise StreamrecError("--embed-catalog needs STREAMREC_REDIS_URL (content neighbours "
                             "are written to Redis)")

    async def run() -> int:
        from streamrec.streams.topics import ensure_topics
        await ensure_topics(s, ("score.requests", "score.results", "events.dlq",
                                "catalog.updates"))
        scorer = Scorer(s, Path(s.serving.scorer_model_dir), max_batch=s.serving.scorer_max_batch,
                        max_wait_ms=s.serving.scorer_max_wait_ms,
                        queue_size=s.serving.scorer_queue_size,
                        device=s.serving.scorer_device or None,
                        embed_catalog=s.serving.scorer_embed_catalog,
                        wait_for_model=s.serving.scorer_wait_for_model)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, scorer.stop)
        print(f"scorer: {scorer.scorer.version} on {scorer.device}", flush=True)
        await scorer.run()
        return 0
    return asyncio.run(run())
