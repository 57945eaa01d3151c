"""``GET /search?q=&user=&k=``: a text query answered with in-stock catalog items,
re-ranked by the user's profile (``STREAMREC_SEARCH=true``).

The API process holds the text encoder (all-MiniLM-L6-v2, :mod:`streamrec.models.text_encoder`)
and a vector index of the catalog (:class:`streamrec.models.search.VectorIndex`, faiss).
On start it rebuilds the index from Redis (titles and categories from ``catalog``,
vectors from ``emb`` where the scorer wrote them, the rest encoded here), then reads
``catalog.updates`` from its beginning and follows it. The topic is compacted (each
item's latest change), so nothing published before or during the start is missed, and a
change whose text the index has already costs nothing; a new title or category is encoded
and swapped in within a batch. Until the first build is done the endpoint answers 503
with the progress.

A query is encoded (in a thread, with the index search), its ``search_candidates``
nearest items are read from Redis in one round trip (stock, catalog entry, the user's
state), sold-out items are dropped, and the rest are re-ranked by the user's category
affinity and price fit (:func:`streamrec.models.search.rerank`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from streamrec.models.search import VectorIndex, rerank
from streamrec.models.userstate import UserState
from streamrec.state.redis_store import RedisStore
from streamrec.streams.api.context import SETTINGS, STORE
from streamrec.streams.api.guard import guarded
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.records import TOPIC_CATALOG
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, parse_catalog
from streamrec.streams.worker.catalog_rebuild import assign_topic

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 512
MAX_K = 100
ENCODE_BATCH = 256


class SearchIndex:
    """The encoder and the catalog's vector index, kept current by :meth:`run`."""

    def __init__(self, settings: Settings, store: RedisStore) -> None:
        self.settings, self.store = settings, store
        self.state = "starting"          # starting -> encoding -> ready (or failed)
        self.error = ""
        self.encoded = self.to_encode = 0
        self.encoder: Any = None
        self.index: VectorIndex | None = None
        self._texts: dict[str, tuple[str | None, str | None]] = {}
        self.task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def progress(self) -> dict[str, Any]:
        return {"state": self.state, "encoded": self.encoded, "to_encode": self.to_encode,
                "items": self.index.searchable if self.index else 0, "error": self.error}

    async def run(self) -> None:
        """Load the encoder, rebuild from Redis, then follow ``catalog.updates``."""
        from streamrec.models.text_encoder import TextEncoder

        s = self.settings
        try:
            self.encoder = await asyncio.to_thread(
                TextEncoder, s.serving.text_encoder_dir or None, "cpu")
            self.index = VectorIndex(self.encoder.dim, s.serving.search_index)
            consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka.broker, group_id=None,
                                        enable_auto_commit=False, **client_kwargs(s))
            await consumer.start()
        except Exception as e:
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
            log.exception("search: could not start")
            raise
        try:
            tps = await assign_topic(consumer, s.topic(TOPIC_CATALOG))
            if tps:   # compacted: each item's latest change, nothing missed during start
                await consumer.seek_to_beginning(*tps)
            await self._rebuild()
            self.state = "ready"
            log.warning("search: %d items indexed", self.index.searchable)
            while tps:
                got = await consumer.getmany(timeout_ms=1000, max_records=2000)
                changes = {}
                for recs in got.values():
                    for r in recs:
                        c = parse_catalog(r.value, s.serving.max_event_bytes)
                        if not isinstance(c, Rejection):
                            changes[c.item_id] = (c.title, c.category)
                await self._apply(changes)
        finally:
            await consumer.stop()

    async def _rebuild(self) -> None:
        catalog = await self.store.catalog_all()
        vecs = await self.store.embeddings_all()
        changes = {i: (d.get("title"), d.get("category")) for i, d in catalog.items()}
        known = [i for i in changes if i in vecs and _text(*changes[i])]
        assert self.index is not None
        if known:
            self.index.upsert(known, np.stack([vecs[i] for i in known]))
            self._texts.update({i: changes[i] for i in known})
        self.state = "encoding"
        await self._apply({i: t for i, t in changes.items() if i not in vecs})

    async def _apply(self, changes: dict[str, tuple[str | None, str | None]]) -> None:
        """Encode the items whose text changed and swap in a new index snapshot."""
        assert self.index is not None
        todo: dict[str, str] = {}
        for item, (title, category) in changes.items():
            old = self._texts.get(item, (None, None))
            merged = (title or old[0], category or old[1])
            if merged != old:
                self._texts[item] = merged
                if text := _text(*merged):
                    todo[item] = text
        self.to_encode += len(todo)
        ids = list(todo)
        for start in range(0, len(ids), ENCODE_BATCH):
            part = ids[start:start + ENCODE_BATCH]
            vecs = await asyncio.to_thread(self.encoder.encode, [todo[i] for i in part])
            self.index.upsert(part, vecs)
            self.encoded += len(part)
        if todo or not self.index.searchable:
            self.index.swap(await asyncio.to_thread(self.index.build))

    async def nearest(self, query: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` items nearest to ``query`` (encoded and searched in a thread)."""
        assert self.index is not None
        index, encoder = self.index, self.encoder
        return await asyncio.to_thread(lambda: index.search(encoder.encode([query])[0], n))


def _text(title: str | None, category: str | None) -> str:
    from streamrec.models.text_encoder import item_text
    return item_text(title, category) if title else ""


SEARCH: web.AppKey[SearchIndex] = web.AppKey("search", SearchIndex)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message, "status": 400}, status=400)


async def search(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if SEARCH not in request.app:
        return web.json_response({"error": "search is off: set STREAMREC_SEARCH=true (and "
                                  "STREAMREC_BROKER) on the API", "status": 404}, status=404)
    q = request.query.get("q", "")
    if not 1 <= len(q) <= MAX_QUERY_CHARS:
        return _bad(f"q must have 1..{MAX_QUERY_CHARS} characters")
    raw_k = request.query.get("k", "10")
    if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_K:
        return _bad(f"k must be an integer 1..{MAX_K}, got {raw_k!r}")
    user = request.query.get("user") or None
    if user is not None and len(user) > 256:
        return _bad("user must have 1..256 characters")
    idx = request.app[SEARCH]
    if not idx.ready:
        return web.json_response({"error": "the search index is not ready", "status": 503,
                                  "index": idx.progress()}, status=503)
    t0 = time.perf_counter()
    hits = await idx.nearest(q, settings.serving.search_candidates)
    items: list[dict[str, Any]] = []
    personalised = False
    if hits:
        ids = [i for i, _ in hits]
        oos, raws, state = await request.app[STORE].search_context(ids, user)
        info = {i: orjson.loads(r) for i, r in zip(ids, raws, strict=True) if r}
        hits = [h for h, out in zip(hits, oos, strict=True) if not out and h[0] in info]
        profile = UserState.from_json(orjson.loads(state)).profile if state else None
        personalised = profile is not None
        s = settings.serving
        for h in rerank(hits, info, profile, k=int(raw_k), affinity_weight=s.search_profile_weight,
                        price_weight=s.search_price_weight):
            meta = info[h.item_id]
            items.append({"item_id": h.item_id, "score": h.score, "similarity": h.similarity,
                          "affinity": h.affinity, "price_fit": h.price_fit,
                          "title": meta.get("title"), "category": meta.get("category"),
                          "price": meta.get("price")})
    return web.json_response({"query": q, "user_id": user, "personalised": personalised,
                              "items": items, "took_ms": round((time.perf_counter() - t0) * 1e3, 2),
                              "index": {"items": idx.index.searchable if idx.index else 0,
                                        "kind": settings.serving.search_index}})


def add_routes(app: web.Application) -> None:
    """``GET /search``; with ``STREAMREC_SEARCH`` on, the index starts with the app."""
    app.router.add_get("/search", guarded(search))
    settings = app[SETTINGS]
    if not settings.serving.search:
        return
    if not settings.kafka.broker:
        raise StreamrecError("STREAMREC_SEARCH=true needs STREAMREC_BROKER (or --broker): the "
                             "search index follows catalog.updates")
    idx = app[SEARCH] = SearchIndex(settings, app[STORE])

    async def start(app: web.Application) -> None:
        idx.task = asyncio.create_task(idx.run(), name="search-index")
        idx.task.add_done_callback(_log_end)

    async def stop(app: web.Application) -> None:
        if idx.task is not None:
            idx.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await idx.task

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def _log_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("search index stopped", exc_info=task.exception())
