"""Users forgotten on request, in memory (``forgotten``, ``forgotten:v``): part of
:class:`~streamrec.state.memory_store.MemoryStore`, as ``redis_privacy.py`` is of the Redis
store."""

from __future__ import annotations

import orjson

from .memory_dicts import MemoryDicts


class MemoryPrivacy(MemoryDicts):
    """Forget and consent on the store's dicts."""

    async def forget_user(self, user_id: str, at: float) -> list[str]:
        self._hash("forgotten")[user_id] = at
        self.strings["forgotten:v"] = int(self.strings.get("forgotten:v", 0)) + 1
        mine = [k for k in list(self.strings) if k.startswith("imp:") and
                (raw := self._get(k)) is not None and orjson.loads(raw).get("user") == user_id]
        keys = ["user:" + user_id, "rec:" + user_id,
                *(x for k in mine for x in (k, "impok:" + k[4:]))]
        removed = [k for k in keys if self._get(k) is not None]
        for k in removed:
            del self.strings[k]
            self.expiry.pop(k, None)
        return removed

    async def consent_user(self, user_id: str) -> bool:
        gone = self._hash("forgotten").pop(user_id, None) is not None
        self.strings["forgotten:v"] = int(self.strings.get("forgotten:v", 0)) + 1
        return gone

    async def forgotten_users(self) -> dict[str, float]:
        return {u: float(t) for u, t in self._hash("forgotten").items()}
