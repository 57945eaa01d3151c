"""Replay a dataset into the topics at a chosen rate (``streamrec replay``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from .records import TOPIC_CATALOG, TOPIC_EVENTS
from .settings import Settings

log = logging.getLogger(__name__)


class Producer:
    """One aiokafka producer for JSON payloads keyed by a string id."""

    def __init__(self, settings: Settings, linger_ms: int = 5) -> None:
        self.settings = settings
        self._p = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=linger_ms,
                                   max_batch_size=256 * 1024)

    async def __aenter__(self) -> Producer:
        await self._p.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._p.stop()

    async def send(self, topic: str, key: str, value: dict[str, Any] | bytes) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        await self._p.send(self.settings.topic(topic), key=key.encode(), value=raw)

    async def send_and_wait(self, topic: str, key: str, value: dict[str, Any] | bytes) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        await self._p.send_and_wait(self.settings.topic(topic), key=key.encode(), value=raw)

    async def flush(self) -> None:
        await self._p.flush()


async def replay_catalog(producer: Producer, items: Iterable[dict[str, Any]]) -> int:
    n = 0
    for item in items:
        await producer.send(TOPIC_CATALOG, item["item_id"], item)
        n += 1
    await producer.flush()
    return n


async def replay_events(producer: Producer, events: Iterable[tuple[str, dict[str, Any]]],
                        rate: float, stop: asyncio.Event | None = None,
                        mixed: bool = False) -> int:
    """Send (kind, event) pairs to ``events.<kind>`` (``mixed``: all to ``events``, with
    ``type`` set, which keeps their order across kinds) at ``rate`` events/s (0 = max)."""
    n = 0
    t0 = time.monotonic()
    for kind, ev in events:
        if stop is not None and stop.is_set():
            break
        if mixed:
            await producer.send(TOPIC_EVENTS, ev["user_id"], {**ev, "type": kind})
        else:
            await producer.send(f"events.{kind}", ev["user_id"], ev)
        n += 1
        if rate > 0 and n % 50 == 0:
            ahead = n / rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await producer.flush()
    return n
