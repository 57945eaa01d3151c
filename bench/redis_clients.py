"""The API's read path on each Redis client: is a library within 15% of ``state/resp.py``?

Each request of ``GET /recommendations/{user}`` costs two reads sent together: the user's
list (``GET rec:{user}``) and the newest sell-out (``ZREVRANGE oos_at 0 0 WITHSCORES``).
This runs that pair from ``--concurrency`` coroutines for ``--seconds`` on one event loop,
as the API's handlers do, against a real redis-server, with: ``state/resp.py`` (what the
API uses), redis-py (the worker's client), coredis and valkey-glide (when installed; they
are not dependencies). The figure is read pairs per second: the client's own CPU per
request, which is what caps the API on a core.

Run: ``python -m streamrec.bench.redis_clients [--seconds 5] [--concurrency 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from streamrec.state.resp import RespClient
from streamrec.streams.dev.embedded import RedisServer

Pair = Callable[[str], Awaitable[Any]]
USERS = 200


async def _drive(pair: Pair, seconds: float, concurrency: int) -> float:
    stop = time.perf_counter() + seconds
    done = 0

    async def one(n: int) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await pair(f"rec:u{n % USERS}")
            done += 1
            n += concurrency
    t0 = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def _resp(url: str) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    c = RespClient(url)

    async def pair(key: str) -> Any:
        a, b = c.send("GET", key), c.send("ZREVRANGE", "oos_at", 0, 0, "WITHSCORES")
        return await a, await b
    return pair, c.aclose


async def _redis_py(url: str) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    import redis.asyncio as aioredis
    c = aioredis.Redis.from_url(url)

    async def pair(key: str) -> Any:
        async with c.pipeline(transaction=False) as p:
            p.get(key)
            p.zrevrange("oos_at", 0, 0, withscores=True)
            return await p.execute()
    return pair, c.aclose


async def _coredis(url: str) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    import coredis
    u = urlparse(url)
    c = coredis.Redis(host=u.hostname, port=u.port, password=u.password)
    await c.__aenter__()            # coredis 6 runs its pool in the client's context

    async def pair(key: str) -> Any:     # (its pipeline measured the same: 3,442/s)
        return await asyncio.gather(c.get(key), c.zrange("oos_at", 0, 0, rev=True,
                                                          withscores=True))

    async def close() -> None:
        await c.__aexit__(None, None, None)
    return pair, close


async def _glide(url: str) -> tuple[Pair, Callable[[], Awaitable[None]]]:
    from glide import Batch, GlideClient, GlideClientConfiguration, NodeAddress, ServerCredentials
    u = urlparse(url)
    c = await GlideClient.create(GlideClientConfiguration(
        [NodeAddress(u.hostname or "127.0.0.1", u.port or 6379)],
        credentials=ServerCredentials(u.password) if u.password else None))

    async def pair(key: str) -> Any:     # a batch: 1.9x the pairs/s of two gathered calls
        b = Batch(is_atomic=False)
        b.get(key)
        b.custom_command(["ZREVRANGE", "oos_at", "0", "0", "WITHSCORES"])
        return await c.exec(b, raise_on_error=True)
    return pair, c.close


CLIENTS = {"resp.py (the API's)": _resp, "redis-py": _redis_py, "coredis": _coredis,
           "valkey-glide": _glide}


async def run(url: str, seconds: float, concurrency: int) -> dict[str, float | str]:
    seed = RespClient(url)
    body = b'{"user_id":"u","items":[' + b",".join(
        b'{"item_id":"%d","score":0.5}' % i for i in range(40)) + b'],"generated_at":1.0}'
    for n in range(USERS):
        await seed.execute("SET", f"rec:u{n}", body)
    await seed.execute("ZADD", "oos_at", 1.0, "gone")
    await seed.aclose()
    out: dict[str, float | str] = {}
    for name, make in CLIENTS.items():
        try:
            pair, close = await make(url)
        except ImportError as e:
            out[name] = f"not installed ({e.name})"
            continue
        await _drive(pair, 0.5, concurrency)          # warm up: connect, caches
        out[name] = await _drive(pair, seconds, concurrency)
        await close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    with RedisServer() as server:
        got = asyncio.run(run(server.url, args.seconds, args.concurrency))
    base = got["resp.py (the API's)"]
    print("| client | read pairs/s | vs resp.py |\n|---|---|---|")
    for name, v in got.items():
        share = f"{v / base:.0%}" if isinstance(v, float) and isinstance(base, float) else ""
        print(f"| {name} | {v if isinstance(v, str) else f'{v:,.0f}'} | {share} |")


if __name__ == "__main__":
    main()
