"""Waiting out an outage: retry a call with exponential backoff and jitter, up to a limit.

The worker's and learner's writes are safe to repeat (the worker's batches are guarded
by watermarks: ``state/lua/commit.lua``; the learner's snapshot is one SET), so a call
that failed on a dropped connection, a timeout or a Redis still loading its data is run
again, whole, until it succeeds or ``limit_s`` has passed; then :class:`OutageError`
(the process exits non-zero and its supervisor restarts it).

>>> import asyncio, random
>>> calls = []
>>> async def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise ConnectionError("refused")
...     return "ok"
>>> asyncio.run(wait_out(flaky, limit_s=5, what="Redis", rng=random.Random(0), base_s=0.001))
'ok'
>>> len(calls)
3
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streamrec.streams.exceptions import StreamrecError

log = logging.getLogger(__name__)
T = TypeVar("T")

# BusyLoadingError (Redis loading its data after a restart) is a ConnectionError
OUTAGES: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError,
                                            ConnectionError, TimeoutError)


class OutageError(StreamrecError):
    """A dependency stayed unavailable for longer than ``STREAMREC_OUTAGE_WAIT_S``."""


async def wait_out(call: Callable[[], Awaitable[T]], *, limit_s: float, what: str,
                   rng: random.Random, base_s: float = 0.05, cap_s: float = 5.0) -> T:
    """``await call()``, retried on :data:`OUTAGES` with backoff ``base_s * 2**n`` (at most
    ``cap_s``, times a jitter of 0.5..1) for up to ``limit_s`` seconds."""
    start = time.monotonic()
    attempt = 0
    while True:
        try:
            return await call()
        except OUTAGES as exc:
            waited = time.monotonic() - start
            if waited >= limit_s:
                raise OutageError(f"{what} unavailable for {waited:.0f} s (waited out up to "
                                  f"STREAMREC_OUTAGE_WAIT_S={limit_s:g}): {exc!r}") from exc
            delay = min(cap_s, base_s * 2 ** attempt) * (0.5 + rng.random() / 2)
            attempt += 1
            log.warning("%s unavailable (%r); retry %d in %.2f s (waiting %.0f s so far)",
                        what, exc, attempt, delay, waited)
            await asyncio.sleep(min(delay, max(0.0, limit_s - waited)))
