"""The worker's side of transformer scoring: ask ``score.requests``, wait for
``score.results`` up to a deadline, and report which requests were not answered in time
(the caller then ranks those users without the model and says so).

Each client reads one partition of ``score.results`` (no consumer group, from the end),
picked from its random id, and names it in every request as ``reply_partition``: the
scorer answers there, so a worker reads its own answers and those of the few workers that
picked the same partition (it keeps only its own request ids), not every worker's. Give
``score.results`` at least as many partitions as there are workers. Upgrade scorers
before workers: a scorer that ignores ``reply_partition`` answers on the partition of the
request id, where most asking workers no longer look (their lists fall back to the
heuristic at the deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import zlib
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamrec.streams import schemas
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.settings import Settings


class Scoring(Protocol):
    """What the processor asks for transformer scores: :class:`ScoringClient` (the
    scoring worker, over the broker) or ``streams.scorer.InlineScoring`` (evaluation)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def score(self, requests: dict[str, tuple[list[str], list[str]]], deadline_s: float
                    ) -> dict[str, dict[str, Any] | None]: ...


class ScoringClient:
    def __init__(self, settings: Settings, producer: AIOKafkaProducer | None = None) -> None:
        self.settings = settings
        self._own_producer = producer is None
        self._producer = producer   # made in start(): aiokafka needs a running loop
        self._consumer: AIOKafkaConsumer | None = None
        self._waiting: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self._prefix = uuid.uuid4().hex[:8] + ":"
        self.answered = 0
        self.timed_out = 0
        self.reply_partition: int | None = None    # of score.results, set by start()

    async def start(self) -> None:
        s = self.settings
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=s.kafka.broker, linger_ms=0,
                                              **client_kwargs(s))
        if self._own_producer:
            await self._producer.start()
        self._consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka.broker, group_id=None,
                                          **client_kwargs(s),
                                          fetch_max_wait_ms=s.kafka.fetch_max_wait_ms)
        await self._consumer.start()
        topic = s.topic("score.results")
        parts = self._consumer.partitions_for_topic(topic)
        if not parts:
            await self._consumer._client.force_metadata_update()
            parts = self._consumer.partitions_for_topic(topic) or {0}
        ordered = sorted(parts)
        self.reply_partition = ordered[zlib.crc32(self._prefix.encode()) % len(ordered)]
        tps = [TopicPartition(topic, self.reply_partition)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before any request is sent
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()
        if self._own_producer and self._producer is not None:
            await self._producer.stop()

    async def _listen(self) -> None:
        assert self._consumer is not None
        async for msg in self._consumer:
            try:
                res = orjson.loads(msg.value)
            except orjson.JSONDecodeError:
                continue
            fut = self._waiting.pop(res.get("request_id") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(res)

    async def score(self, requests: dict[str, tuple[list[str], list[str]]], deadline_s: float
                    ) -> dict[str, dict[str, Any] | None]:
        """Scores per key for {key: (sequence oldest first, candidates)}: the scorer's
        answer (``scores``, or an ``error`` such as "no model yet"), None where it did not
        answer within ``deadline_s``."""
        if not requests:
            return {}
        loop = asyncio.get_running_loop()
        ids = {}
        topic = self.settings.topic("score.requests")
        for key, (seq, cands) in requests.items():
            rid = self._prefix + uuid.uuid4().hex
            ids[key] = rid
            self._waiting[rid] = loop.create_future()
            assert self._producer is not None, "ScoringClient.start() first"
            await self._producer.send(topic, key=rid.encode(), value=schemas.encode(
                schemas.ScoreRequest(rid, seq, cands, self.reply_partition)))
        futs = {key: self._waiting[rid] for key, rid in ids.items()}
        await asyncio.wait(futs.values(), timeout=deadline_s)
        out: dict[str, dict[str, Any] | None] = {}
        for key, fut in futs.items():
            if fut.done():
                out[key] = fut.result()
                self.answered += "scores" in out[key]
            else:
                out[key] = None
                self.timed_out += 1
                self._waiting.pop(ids[key], None)
                fut.cancel()
        return out
