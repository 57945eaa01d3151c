"""Dynamic micro-batching: gather requests by size and by a maximum wait, run one
batched call, answer each request on its own future.

* backpressure: the queue is bounded; ``submit`` waits while it is full (the caller stops
  fetching) instead of dropping anything;
* hot swap: ``swap(fn, version)`` takes effect between batches, so no request is lost or
  scored by a half-loaded model;
* the batched function runs in a worker thread (torch releases the GIL), keeping the
  event loop free to fetch and answer.

>>> import asyncio
>>> async def demo():
...     b = MicroBatcher(lambda xs: [x * 10 for x in xs], max_batch=4, max_wait_ms=5)
...     task = asyncio.create_task(b.run())
...     out = await asyncio.gather(*(b.submit(i) for i in range(6)))
...     await b.close(); await task
...     return out, b.stats.batch_sizes
>>> asyncio.run(demo())
([0, 10, 20, 30, 40, 50], {4: 1, 2: 1})
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_CLOSE = object()


@dataclass
class BatchStats:
    requests: int = 0
    batches: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    queue_wait_s: float = 0.0      # summed over requests
    compute_s: float = 0.0         # summed over batches

    def add(self, size: int, waits: Sequence[float], compute: float) -> None:
        self.requests += size
        self.batches += 1
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1
        self.queue_wait_s += sum(waits)
        self.compute_s += compute


class MicroBatcher:
    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], *, max_batch: int = 64,
                 max_wait_ms: float = 5.0, queue_size: int = 4096, version: str = "0",
                 in_thread: bool = False) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.queue_size = queue_size
        self.in_thread = in_thread
        self._fn = fn
        self.version = version
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self.stats = BatchStats()

    def swap(self, fn: Callable[[list[Any]], Sequence[Any]], version: str) -> None:
        """Use ``fn`` from the next batch on."""
        self._fn, self.version = fn, version

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def submit(self, item: Any) -> Any:
        """Queue one request (waiting while the queue is full) and await its answer."""
        fut = await self.enqueue(item)
        return await fut

    async def enqueue(self, item: Any) -> asyncio.Future:
        """Queue one request; returns the future of its answer."""
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut, time.perf_counter()))
        return fut

    async def close(self) -> None:
        await self._queue.put((_CLOSE, None, 0.0))

    async def run(self) -> None:
        """Serve until ``close()``; requests queued before the close are all answered."""
        loop = asyncio.get_running_loop()
        closing = False
        while not closing:
            first = await self._queue.get()
            if first[0] is _CLOSE:
                break
            batch = [first]
            deadline = loop.time() + self.max_wait_ms / 1000.0
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                if nxt[0] is _CLOSE:
                    closing = True
                    break
                batch.append(nxt)
            await self._execute(batch)

    async def _execute(self, batch: list[tuple[Any, asyncio.Future, float]]) -> None:
        items = [b[0] for b in batch]
        fn = self._fn
        t0 = time.perf_counter()
        waits = [t0 - b[2] for b in batch]
        try:
            results = (await asyncio.to_thread(fn, items)) if self.in_thread else fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"batched function returned {len(results)} results for "
                                   f"{len(items)} requests")
        except Exception as e:  # answer every request with the error, keep serving
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        self.stats.add(len(batch), waits, time.perf_counter() - t0)
        for (_, fut, _), r in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(r)
