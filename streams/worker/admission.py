"""What gets into a batch: each message decoded and validated, duplicates of recent event
ids dropped, items checked against the catalog; what does not goes to the DLQ with its
reason and offsets (``streams/messages.py``)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from streamrec.models.events import Interaction
from streamrec.streams.messages import Message, dead_letter, log_rejection
from streamrec.streams.records import EVENT_TOPICS
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, parse_interaction
from streamrec.streams.worker.catalog_gate import CatalogGate

log = logging.getLogger(__name__)
Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]  # (topic, key, value)


class Admission:
    """Screens a worker's event messages."""

    def __init__(self, settings: Settings, send: Send, catalog: CatalogGate) -> None:
        self.settings = settings
        self.send = send
        self.catalog = catalog
        self.topics = {settings.topic(t): kind for t, kind in EVENT_TOPICS.items()}
        self.dlq = settings.topic("events.dlq")

    def parse(self, msgs: Sequence[Message]
               ) -> list[tuple[Message, Interaction | Rejection]]:
        """Each message decoded and validated (pure)."""
        s, now = self.settings, time.time()
        return [(m, parse_interaction(m.value, self.topics[m.topic], s.serving.max_event_bytes,
                                      now=now, max_future_s=s.serving.max_future_s)
                 if m.topic in self.topics else
                 Rejection(f"unknown event topic {m.topic!r}", "unknown_topic")) for m in msgs]

    async def screen(self, parsed: list[tuple[Message, Interaction | Rejection]],
                      seen: set[tuple[str, str]]
                      ) -> tuple[list[tuple[Message, Interaction]], Counter[str], int]:
        """Bad messages to the DLQ with their reason; events whose id their partition
        applied recently (or earlier in the batch) dropped. Returns the events left, the
        number rejected by kind of reason and the number of duplicates."""
        valid: list[tuple[Message, Interaction]] = []
        rejected: Counter[str] = Counter()
        duplicates = 0
        check = self.settings.serving.dedup_window > 0
        batch_ids: set[tuple[str, str]] = set()
        for m, ev in parsed:
            if isinstance(ev, Rejection):
                await self.reject(m, ev.reason, ev.kind)
                rejected[ev.kind] += 1
                continue
            if check:
                key = (m.field, ev.event_id)
                if key in seen or key in batch_ids:
                    duplicates += 1
                    continue
                batch_ids.add(key)
            valid.append((m, ev))
        return valid, rejected, duplicates

    async def in_catalog(self, valid: list[tuple[Message, Interaction]]
                          ) -> tuple[list[tuple[Message, Interaction]], Counter[str]]:
        """The events whose item is in the catalog; the others go to the DLQ (after a
        bounded wait for the catalog: ``streams/worker/catalog_gate.py``)."""
        rejected: Counter[str] = Counter()
        unknown = await self.catalog.unknown({ev.item_id for _, ev in valid})
        if unknown:
            keep = []
            for m, ev in valid:
                if ev.item_id in unknown:
                    await self.reject(m, f"unknown item {ev.item_id!r} (not in the catalog)",
                                      "unknown_item")
                    rejected["unknown_item"] += 1
                else:
                    keep.append((m, ev))
            valid = keep
        return valid, rejected

    async def reject(self, msg: Message, reason: str, kind: str = "invalid_field") -> None:
        """Log ``msg`` with where it came from and why, and send it to the DLQ."""
        log_rejection(log, msg, reason, kind)
        await self.send(self.dlq, msg.key, dead_letter(msg, reason, kind))
