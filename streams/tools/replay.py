"""Replay a dataset into the topics at a chosen rate (``streamrec replay``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.records import TOPIC_CATALOG, TOPIC_EVENTS
from streamrec.streams.settings import Settings

log = logging.getLogger(__name__)


class DeliveryError(StreamrecError):
    """Messages the broker did not acknowledge."""


class Producer:
    """One aiokafka producer for JSON payloads keyed by a string id.

    Every send's delivery is checked: :meth:`flush` (and leaving the ``async with``)
    raises :class:`DeliveryError` if any message since the last flush was not
    acknowledged, so a replay never reports events it failed to send."""

    SETTLE_EVERY = 10_000     # deliveries checked at least this often

    def __init__(self, settings: Settings, linger_ms: int = 5,
                 request_timeout_ms: int = 30_000) -> None:
        self.settings = settings
        self._p = AIOKafkaProducer(bootstrap_servers=settings.kafka.broker, linger_ms=linger_ms,
                                   **client_kwargs(settings),
                                   max_batch_size=256 * 1024,
                                   request_timeout_ms=request_timeout_ms)
        self._pending: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> Producer:
        await self._p.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            await self._p.stop()

    async def send(self, topic: str, key: str, value: dict[str, Any] | bytes) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        self._pending.append(await self._p.send(self.settings.topic(topic), key=key.encode(),
                                                value=raw))
        if len(self._pending) >= self.SETTLE_EVERY:
            await self._settle()

    async def send_and_wait(self, topic: str, key: str, value: dict[str, Any] | bytes) -> None:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        await self._p.send_and_wait(self.settings.topic(topic), key=key.encode(), value=raw)

    async def flush(self) -> None:
        await self._p.flush()
        await self._settle()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        got = await asyncio.gather(*pending, return_exceptions=True)
        failed = [g for g in got if isinstance(g, BaseException)]
        if failed:
            raise DeliveryError(f"{len(failed)} of {len(got)} messages were not delivered to "
                                f"{self.settings.kafka.broker}: {failed[0]!r}")


async def replay_catalog(producer: Producer, items: Iterable[dict[str, Any]]) -> int:
    n = 0
    for item in items:
        await producer.send(TOPIC_CATALOG, item["item_id"], item)
        n += 1
    await producer.flush()
    return n


Clicker = Callable[[str, str], Awaitable[str | None]]


async def replay_events(producer: Producer, events: Iterable[tuple[str, dict[str, Any]]],
                        rate: float, stop: asyncio.Event | None = None,
                        mixed: bool = False, clicker: Clicker | None = None) -> int:
    """Send (kind, event) pairs to ``events.<kind>`` (``mixed``: all to ``events``, with
    ``type`` set, which keeps their order across kinds) at ``rate`` events/s (0 = max).

    ``clicker(user, item)``, when given, answers the impression id of the user's current
    list if the item is in it: a click on it is then sent with that ``rec_id``, as if the
    user had reached the item through the list (the dataset's clicks, attributed)."""
    n = 0
    t0 = time.monotonic()
    for kind, ev in events:
        if stop is not None and stop.is_set():
            break
        if clicker is not None and kind == "click":
            imp = await clicker(ev["user_id"], ev["item_id"])
            if imp is not None:
                ev = {**ev, "rec_id": imp}
        await _send(producer, kind, ev, mixed)
        n += 1
        if rate > 0 and n % 50 == 0:
            ahead = n / rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await producer.flush()
    return n


async def _send(producer: Producer, kind: str, ev: dict[str, Any], mixed: bool) -> None:
    if mixed:
        await producer.send(TOPIC_EVENTS, ev["user_id"], {**ev, "type": kind})
    else:
        await producer.send(f"events.{kind}", ev["user_id"], ev)
