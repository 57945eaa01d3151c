"""The API benchmark's baselines: bare aiohttp handlers.

* ``python -m streamrec.bench.bare_api PORT``: one redis-py GET of ``rec:{user}``, whose
  bytes are returned as they are (no validation, no stock filter, no cold-start fallback):
  what a plain aiohttp + redis-py API pays.
* ``python -m streamrec.bench.bare_api PORT --no-redis``: a constant list of the same
  size, no Redis at all: the ceiling aiohttp alone sets on this machine.

``STREAMREC_REDIS_URL`` and ``STREAMREC_REDIS_PREFIX`` name the Redis and the key prefix.
"""

from __future__ import annotations

import os
import sys

import orjson
import redis.asyncio as aioredis
from aiohttp import web

# a stored list's size: 40 items of about 50 bytes
CONSTANT = orjson.dumps({"user_id": "u", "items": [
    {"item_id": str(1000 + i), "score": 0.5, "category": "Drama"} for i in range(40)]})


def make_app(redis_url: str, prefix: str, *, redis: bool = True) -> web.Application:
    app = web.Application()
    if redis:
        r = aioredis.Redis.from_url(redis_url)

        async def rec(request: web.Request) -> web.Response:
            raw = await r.get(prefix + "rec:" + request.match_info["user_id"])
            return web.Response(body=raw or b"{}", content_type="application/json")

        async def close(app: web.Application) -> None:
            await r.aclose()
        app.on_cleanup.append(close)
    else:
        async def rec(request: web.Request) -> web.Response:
            return web.Response(body=CONSTANT, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/recommendations/{user_id}", rec)
    app.router.add_get("/health", health)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ.get("STREAMREC_REDIS_URL", ""),
                         os.environ.get("STREAMREC_REDIS_PREFIX", ""),
                         redis="--no-redis" not in sys.argv[2:]),
                host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
