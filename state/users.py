"""Per-user state (recent items, seen, bought) of the users a worker owns.

Events are keyed by user, so each user's events go to one partition and one worker at a
time: that worker is the single writer of the user's state. The state lives in Redis
(``user:{id}``, orjson), written once per batch with the batch's lists (one pipeline)
before the batch's offsets are committed, and is cached in the worker: a user's state is
read from Redis only the first time the worker meets the user after start-up or a
rebalance (:meth:`clear`), so a steady stream costs one write and no read per batch. A
worker that takes a partition over reads its users' latest state from Redis; two workers
give the same states as one.

This replaces a changelog-backed Faust table: the table wrote one changelog message per
user per batch and tied the state's partitions to Faust's own consumer, which the event
topics no longer go through (``streams/worker/consumer.py``).

>>> users = MemoryUsers()
>>> users["u1"] = {"r": ["i9"]}
>>> users.get("u1"), users.get("u2")
({'r': ['i9']}, None)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from .protocols import UserStateStore


class UserStore(Protocol):
    """Per-user state by user id (Redis-backed in the worker, a dict in tests); a batch's
    users are loaded before ``get``; ``take_dirty`` hands over the states set since, which
    the batch writes with its lists; ``discard`` drops a forgotten user."""

    async def load(self, user_ids: Iterable[str]) -> None: ...
    def get(self, user_id: str) -> dict[str, Any] | None: ...
    def __setitem__(self, user_id: str, value: dict[str, Any]) -> None: ...
    def take_dirty(self) -> dict[str, bytes]: ...
    def discard(self, user_id: str) -> None: ...


class MemoryUsers(dict):
    """User states in a dict (tests, offline evaluation): loading and flushing do nothing."""

    def discard(self, user_id: str) -> None:
        self.pop(user_id, None)

    async def load(self, user_ids: Iterable[str]) -> None:
        return None

    def take_dirty(self) -> dict[str, bytes]:
        return {}

    async def flush(self) -> None:
        return None


class RedisUsers:
    """User states in Redis with a write-back cache of up to ``max_cached`` users.

    :meth:`load` must be awaited for a batch's users before :meth:`get`; :meth:`flush`
    writes what changed since the last flush."""

    def __init__(self, store: UserStateStore, max_cached: int = 200_000) -> None:
        self.store = store
        self.max_cached = max_cached
        # orjson text, not dicts: the collector has no per-user lists to walk (a full
        # collection over dict values stalled a batch by ~50 ms)
        self._cache: OrderedDict[str, str | bytes | None] = OrderedDict()
        self._dirty: dict[str, bytes] = {}

    async def load(self, user_ids: Iterable[str]) -> None:
        cache = self._cache
        batch = dict.fromkeys(user_ids)
        missing = []
        for u in batch:
            if u in cache:
                cache.move_to_end(u)        # least recently used first
            else:
                missing.append(u)
        if missing:
            for u, raw in zip(missing, await self.store.user_states(missing), strict=True):
                cache[u] = raw or None
        if len(cache) > self.max_cached:    # evict the oldest, never this batch's users
            victims = []                    # nor unflushed ones
            for u in cache:
                if len(cache) - len(victims) <= self.max_cached:
                    break
                if u not in self._dirty and u not in batch:
                    victims.append(u)
            for u in victims:
                del cache[u]

    def get(self, user_id: str) -> dict[str, Any] | None:
        try:
            raw = self._cache[user_id]
        except KeyError:
            raise KeyError(f"user {user_id!r} was not loaded before get()") from None
        return orjson.loads(raw) if raw else None

    def __setitem__(self, user_id: str, value: dict[str, Any]) -> None:
        self._cache[user_id] = self._dirty[user_id] = orjson.dumps(value)

    def take_dirty(self) -> dict[str, bytes]:
        """The states set since the last call, to be written to ``user:{id}`` by the caller
        (the worker writes them with the batch's lists: ``BatchWrite.sets``)."""
        dirty, self._dirty = self._dirty, {}
        return dirty

    async def flush(self) -> None:
        """Write the states set since the last flush."""
        if dirty := self.take_dirty():
            await self.store.put_user_states(dirty)

    def discard(self, user_id: str) -> None:
        """Drop ``user_id`` from the cache, written or not (the user was forgotten)."""
        self._cache.pop(user_id, None)
        self._dirty.pop(user_id, None)

    def clear(self) -> None:
        """Forget the cache (on a rebalance: another worker may have written since)."""
        self._cache.clear()
