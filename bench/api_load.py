"""HTTP load for the API: keep-alive connections over raw asyncio streams.

Two modes, both reading ``GET /recommendations/{user}`` for users drawn (seeded) from a
list:

* :func:`closed_loop`: ``connections`` clients send back to back for ``seconds``; the
  completed requests per second is the API's capacity (the client shares the machine).
* :func:`open_loop`: requests are scheduled at a fixed ``rate``; latency is measured from
  each request's *scheduled* time, so a slow server cannot hide queueing (no coordinated
  omission). It runs on an event loop of its own, in a thread, whose selector is
  ``select()``: its timeouts have microsecond resolution, while epoll's (asyncio's default
  on Linux) are rounded up to whole milliseconds, which sent requests up to 1 ms late and
  counted that in their latency (p50 0.83 ms against an aiohttp handler returning a
  constant; 0.5 ms with ``select()``). How late each request left is kept
  (``late_ms``) so the generator's own precision is on the record.

A raw client costs far less CPU per request than an HTTP library, which matters when the
client and the server share two cores.
"""

from __future__ import annotations

import asyncio
import random
import selectors
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def _pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


@dataclass
class LoadResult:
    mode: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    offered: float = 0.0
    late_ms: list[float] = field(default_factory=list)    # open loop: sent after schedule

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        return _pct(self.latencies_ms, p)

    def summary(self) -> dict[str, float | str]:
        return {"mode": self.mode, "offered_rps": self.offered, "rps": self.requests_per_s,
                "requests": len(self.latencies_ms), "errors": self.errors,
                "p50_ms": self.pct(0.5), "p95_ms": self.pct(0.95), "p99_ms": self.pct(0.99),
                "max_ms": max(self.latencies_ms, default=float("nan")),
                "late_p99_ms": _pct(self.late_ms, 0.99)}


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        """One GET on the kept-alive connection; returns the status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass


def _paths(users: Sequence[str], k: int, seed: int, n: int, extra: str = "") -> list[str]:
    rng = random.Random(seed)
    return [f"/recommendations/{rng.choice(users)}?k={k}{extra}" for _ in range(n)]


async def _timed_get(c: _Conn, path: str, since: float, res: LoadResult) -> None:
    """One GET on ``c``: its latency from ``since`` into ``res``, or an error (the
    connection is made again on the next request)."""
    try:
        ok = await c.get(path) == 200
    except (OSError, asyncio.IncompleteReadError):
        ok = False
        await c.close()
        c.writer = None
    if ok:
        res.latencies_ms.append((time.perf_counter() - since) * 1000.0)
    else:
        res.errors += 1


async def closed_loop(host: str, port: int, users: Sequence[str], seconds: float,
                      connections: int = 32, k: int = 20, seed: int = 0, extra: str = ""
                      ) -> LoadResult:
    """As many requests as ``connections`` clients get answered in ``seconds``; ``extra``
    is added to each query string (e.g. ``&explain=1``)."""
    res = LoadResult("closed", seconds)
    paths = _paths(users, k, seed, 4096, extra)
    stop_at = time.perf_counter() + seconds

    async def client(c: _Conn, offset: int) -> None:
        n = offset
        while time.perf_counter() < stop_at:
            await _timed_get(c, paths[n % len(paths)], time.perf_counter(), res)
            n += 1
    conns = [_Conn(host, port) for _ in range(connections)]
    t0 = time.perf_counter()
    await asyncio.gather(*(client(c, i * 97) for i, c in enumerate(conns)))
    res.seconds = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return res


async def open_loop(host: str, port: int, users: Sequence[str], rate: float, seconds: float,
                    connections: int = 64, k: int = 20, seed: int = 0, extra: str = ""
                    ) -> LoadResult:
    """``rate`` requests/s for ``seconds``, on a ``select()`` event loop in a thread."""
    def run() -> LoadResult:
        loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        try:
            return loop.run_until_complete(
                _open_loop(host, port, users, rate, seconds, connections, k, seed, extra))
        finally:
            loop.close()
    return await asyncio.to_thread(run)


async def _open_loop(host: str, port: int, users: Sequence[str], rate: float, seconds: float,
                     connections: int, k: int, seed: int, extra: str) -> LoadResult:
    res = LoadResult("open", seconds, offered=rate)
    n = int(rate * seconds)
    paths = _paths(users, k, seed, n, extra)
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()

    async def client(c: _Conn) -> None:
        while (job := await queue.get()) is not None:
            scheduled, path = job
            res.late_ms.append((time.perf_counter() - scheduled) * 1000.0)
            await _timed_get(c, path, scheduled, res)
    conns = [_Conn(host, port) for _ in range(connections)]
    tasks = [asyncio.create_task(client(c)) for c in conns]
    t0 = time.perf_counter()
    for i, path in enumerate(paths):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((at, path))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    res.seconds = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return res
