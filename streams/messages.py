"""The worker's view of a Kafka message, and what a rejected one becomes on the DLQ.

>>> m = Message("events", 3, 41, b"u1", b'{"oops', 1.7e9)
>>> m.field, advance([m], {"events:3": 41})
('events:3', [('events:3', 41, 42)])
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from streamrec.state.batch import watermark_field
from streamrec.streams import schemas

DLQ_KEEP_BYTES = 65536   # of an original value kept in its DLQ record (base64 ~88 KB)
DLQ_REASON_CHARS = 2000


@dataclass(slots=True)
class Message:
    """The parts of a Kafka message the processor needs (Faust-free)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float  # producer timestamp, unix seconds
    field: str = field(init=False, repr=False)   # "topic:partition", its watermark's name

    def __post_init__(self) -> None:
        self.field = watermark_field(self.topic, self.partition)


def advance(msgs: Sequence[Message], marks: dict[str, int]) -> list[tuple[str, int, int]]:
    """The watermarks a batch of ``msgs`` moves: (field, as read or -1, next offset)."""
    nxt: dict[str, int] = {}
    for m in msgs:
        f = m.field
        nxt[f] = max(nxt.get(f, 0), m.offset + 1)
    return [(f, marks.get(f, -1), n) for f, n in sorted(nxt.items())]


def log_rejection(log: logging.Logger, msg: Message, reason: str, kind: str) -> None:
    """One warning per rejected message, saying where it came from and why (as ``extra``
    fields too, which the JSON log format prints: ``streams/logs.py``)."""
    log.warning("rejected %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason,
                extra={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
                       "reason": reason, "kind": kind})


def dead_letter(msg: Message, reason: str, kind: str | None = None,
                keep: int = DLQ_KEEP_BYTES) -> bytes:
    """The DLQ payload for a rejected message: reason (and its ``kind``: one of
    ``streams/validate.py``'s ``REASONS``), origin and the original bytes.

    An original over ``keep`` bytes is cut to its first ``keep``, with its size and
    SHA-256 kept, so a record always fits the producer's limit.

    >>> big = Message("events", 0, 7, b"u", b"x" * 100, 0.0)
    >>> d = schemas.decode_dead_letter(dead_letter(big, "oversized", keep=10))
    >>> d.truncated, d.value_size, len(base64.b64decode(d.value_b64))
    (True, 100, 10)
    """
    value = msg.value
    head = value[:keep] if value is not None else None
    text = None
    if head is not None:
        try:
            text = head[:4096].decode("utf-8")
        except UnicodeDecodeError:
            text = None
    key = msg.key[:1024] if msg.key is not None else None
    return schemas.encode(schemas.DeadLetter(
        reason=reason[:DLQ_REASON_CHARS], topic=msg.topic, partition=msg.partition,
        offset=msg.offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(head).decode() if head is not None else None,
        value_text=text, value_size=len(value) if value is not None else None,
        value_sha256=hashlib.sha256(value).hexdigest() if value is not None else None,
        truncated=value is not None and len(value) > keep, rejected_at=time.time(),
        kind=kind))
