"""The API benchmark's baseline: a bare aiohttp handler doing one Redis GET.

``GET /recommendations/{user}`` returns the stored ``rec:{user}`` bytes as they are (no
validation, no stock filter, no cold-start fallback), so it is the floor any real API on
aiohttp + redis-py pays. Run: ``python -m streamrec.bench.bare_api PORT`` with
``STREAMREC_REDIS_URL`` and ``STREAMREC_REDIS_PREFIX`` set.
"""

from __future__ import annotations

import os
import sys

import redis.asyncio as aioredis
from aiohttp import web


def make_app(redis_url: str, prefix: str) -> web.Application:
    r = aioredis.Redis.from_url(redis_url)

    async def rec(request: web.Request) -> web.Response:
        raw = await r.get(prefix + "rec:" + request.match_info["user_id"])
        return web.Response(body=raw or b"{}", content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def close(app: web.Application) -> None:
        await r.aclose()

    app = web.Application()
    app.router.add_get("/recommendations/{user_id}", rec)
    app.router.add_get("/health", health)
    app.on_cleanup.append(close)
    return app


if __name__ == "__main__":
    web.run_app(make_app(os.environ["STREAMREC_REDIS_URL"],
                         os.environ.get("STREAMREC_REDIS_PREFIX", "")),
                host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
