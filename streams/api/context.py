"""What every API handler reads from its application: the store, the settings and this
process's request figures."""

from __future__ import annotations

from aiohttp import web

from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.metrics import RequestStats
from streamrec.streams.settings import Settings

STORE: web.AppKey[RedisStore] = web.AppKey("store", RedisStore)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
STATS: web.AppKey[RequestStats] = web.AppKey("stats", RequestStats)
