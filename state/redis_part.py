"""What the Redis store gives each part of it (catalog, experiments, metrics, privacy):
its client, its key names and the scripts' declared keys (``state/redis_store.py``)."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis


class RedisPart:
    """Declares what :class:`~streamrec.state.redis_store.RedisStore` provides a part."""

    _r: aioredis.Redis
    key: Callable[[str], str]
    _p: Callable[..., str]          # the scripts' prefix and declared key
    _decl: Callable[..., list[str]]
