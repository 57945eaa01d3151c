"""Users forgotten on request in Redis (``forgotten``, ``forgotten:v``; the user's
``user:{user}``, ``rec:{user}``, ``imp:{impression}`` and ``impok:{impression}`` deleted):
part of :class:`~streamrec.state.redis_store.RedisStore`.

Co-visitation, trending, exploration arms and experiment counters are aggregates over all
users with no user id in them: they are not removed."""

from __future__ import annotations

from typing import Any

import orjson

from .redis_part import RedisPart

SCAN_COUNT = 1000


class RedisPrivacy(RedisPart):
    """Forget and consent; the store provides ``_r``, ``_forget``, ``_p``, ``_decl``, ``key``."""

    _forget: Any

    async def forget_user(self, user_id: str, at: float) -> list[str]:
        """Mark ``user_id`` forgotten (no batch writes anything for it from now on) and
        delete its keys: state, list, then its impressions inside their attribution
        window (found by a SCAN once the mark is set, so none can be added meanwhile).
        Returns the keys deleted, without the prefix."""
        removed = list(await self._forget(keys=self._decl(), args=[self._p(), user_id,
                                                                       repr(at)]))
        mine: list[str] = []
        cut = len(self._p())
        async for batch in self._impression_keys():
            bodies = await self._r.mget(batch)
            for key, body in zip(batch, bodies, strict=True):
                if body and orjson.loads(body).get("user") == user_id:
                    imp = key[cut + len("imp:"):]
                    mine += ["imp:" + imp, "impok:" + imp]
        if mine:
            removed += [k for k in await self._forget(keys=self._decl(),
                                                    args=[self._p(), user_id, "", *mine])
                        if k.startswith(("imp:", "impok:"))]
        return removed

    async def _impression_keys(self):  # type: ignore[no-untyped-def]
        batch: list[str] = []
        async for key in self._r.scan_iter(match=self.key("imp:*"), count=SCAN_COUNT):
            batch.append(key)
            if len(batch) >= SCAN_COUNT:
                yield batch
                batch = []
        if batch:
            yield batch

    async def consent_user(self, user_id: str) -> bool:
        """Clear ``user_id``'s forgotten mark (it consented again); False if it had none."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self.key("forgotten"), user_id)
            pipe.incr(self.key("forgotten:v"))
            gone, _ = await pipe.execute()
        return bool(gone)

    async def forgotten_users(self) -> dict[str, float]:
        """Every forgotten user and when it was forgotten."""
        return {u: float(t) for u, t in (await self._r.hgetall(self.key("forgotten"))).items()}
