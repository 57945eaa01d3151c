"""The catalog's keys in Redis (``catalog``, ``items``, ``catalog:v``, ``oos``, ``oos_at``,
``emb``, ``catalog:built``): part of :class:`~streamrec.state.redis_store.RedisStore`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from streamrec.models.events import CatalogChange

from . import catalog_merge
from .redis_part import RedisPart


class RedisCatalog(RedisPart):
    """Catalog operations; the store provides ``_r``, ``_binary`` and ``key``."""

    _binary: Callable[[], Any]

    async def apply_catalog(self, changes: Iterable[CatalogChange]) -> None:
        """Merge catalog changes; stock 0 puts the item in ``oos`` at once, >0 takes it out."""
        changes = list(changes)
        if not changes:
            return
        ids = list(dict.fromkeys(c.item_id for c in changes))
        raws = await self._r.hmget(self.key("catalog"), ids)
        merged = catalog_merge.merge(changes, {i: orjson.loads(r) for i, r in
                                               zip(ids, raws, strict=True) if r})
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("catalog"), mapping={i: orjson.dumps(d) for i, d in merged.items()})
            pipe.incr(self.key("catalog:v"))
            pipe.sadd(self.key("items"), *merged)
            out, back = catalog_merge.stock_moves(merged)
            if out:
                pipe.sadd(self.key("oos"), *out)
                pipe.zadd(self.key("oos_at"), dict.fromkeys(out, time.time()))
            if back:
                pipe.srem(self.key("oos"), *back)
                pipe.zrem(self.key("oos_at"), *back)
            await pipe.execute()

    async def all_items(self, limit: int) -> set[str]:
        """Every catalog item id, or none when the catalog has more than ``limit``."""
        if await self._r.scard(self.key("items")) > limit:
            return set()
        return set(await self._r.smembers(self.key("items")))

    async def known_items(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        flags = await self._r.smismember(self.key("items"), list(ids))
        return {i for i, f in zip(ids, flags, strict=True) if f}

    async def item(self, item_id: str) -> dict[str, Any] | None:
        raw = await self._r.hget(self.key("catalog"), item_id)
        return orjson.loads(raw) if raw else None

    async def catalog_info(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        raws = await self._r.hmget(self.key("catalog"), list(ids))
        return {i: orjson.loads(r) for i, r in zip(ids, raws, strict=True) if r}

    async def embeddings(self, ids: Sequence[str]) -> dict[str, Any]:
        """Item text embeddings (float32 vectors) written by the scorer; absent ids omitted."""
        if not ids:
            return {}
        import numpy as np
        raws = await self._binary().hmget(self.key("emb"), list(ids))
        return {i: np.frombuffer(r, dtype=np.float16).astype(np.float32)
                for i, r in zip(ids, raws, strict=True) if r}

    async def catalog_all(self) -> dict[str, dict[str, Any]]:
        """Every catalog entry (for rebuilding an in-process index, such as search's)."""
        out: dict[str, dict[str, Any]] = {}
        async for item, raw in self._r.hscan_iter(self.key("catalog"), count=2000):
            out[item] = orjson.loads(raw)
        return out

    async def embeddings_all(self) -> dict[str, Any]:
        """Every text embedding the scorer wrote (``emb``), as float32 vectors."""
        import numpy as np
        return {i.decode(): np.frombuffer(r, dtype=np.float16).astype(np.float32)
                async for i, r in self._binary().hscan_iter(self.key("emb"), count=2000)}

    async def search_context(self, ids: Sequence[str], user_id: str | None
                             ) -> tuple[list[bool], list[str | None], str | None]:
        """For search hits ``ids``, in one round trip: whether each is out of stock, its
        catalog entry (JSON) and the user's state (JSON, None without a user)."""
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.smismember(self.key("oos"), list(ids))
            pipe.hmget(self.key("catalog"), list(ids))
            pipe.get(self.key("user:" + (user_id or "")))
            oos, info, user = await pipe.execute()
        return [bool(f) for f in oos], info, user if user_id else None

    async def out_of_stock(self) -> set[str]:
        return set(await self._r.smembers(self.key("oos")))

    async def catalog_built(self) -> bool:
        """Whether the catalog was rebuilt from its topic into this Redis (``catalog:built``:
        absent after Redis lost its data, or on a first start)."""
        return bool(await self._r.exists(self.key("catalog:built")))

    async def mark_catalog_built(self, changes: int) -> None:
        await self._r.set(self.key("catalog:built"), str(changes))
