"""Users forgotten on request (``DELETE /users/{id}``), as a worker sees them.

The API marks a user in Redis (``forgotten``, ``state/lua/forget.lua``) and bumps
``forgotten:v``; every batch reads the version with its watermarks (no extra round trip),
and when it moved this reads the whole set again and drops the newly forgotten users
from the worker's own memory (the user-state cache, the learned ranker's last lists).
Their events are then skipped. A batch in flight while the user is forgotten cannot
write it back either: ``commit.lua`` checks the mark atomically with its writes.

>>> import asyncio
>>> from streamrec.state.memory_store import MemoryStore
>>> store = MemoryStore()
>>> dropped = []
>>> f = Forgotten(store, dropped.append)
>>> _ = asyncio.run(store.forget_user("u1", 1.0))
>>> asyncio.run(f.refresh(1)); "u1" in f, dropped
(True, ['u1'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from streamrec.models.events import Interaction
from streamrec.state.protocols import PrivacyState

T = TypeVar("T")


class Forgotten:
    def __init__(self, store: PrivacyState, drop: Callable[[str], None]) -> None:
        self.store = store
        self.drop = drop           # forget a user in the worker's memory
        self.version = 0
        self.users: frozenset[str] = frozenset()

    def __contains__(self, user_id: str) -> bool:
        return user_id in self.users

    async def refresh(self, version: int) -> None:
        """Read the forgotten users again if ``version`` (``forgotten:v``) moved."""
        if version == self.version:
            return
        users = frozenset(await self.store.forgotten_users())
        for u in users - self.users:
            self.drop(u)
        self.users, self.version = users, version

    def skip(self, parsed: list[tuple[T, Any]]) -> tuple[list[tuple[T, Any]], int]:
        """``parsed`` (message, event) without the events of forgotten users, and how many
        were left out."""
        if not self.users:
            return parsed, 0
        kept = [(m, ev) for m, ev in parsed
                if not (isinstance(ev, Interaction) and ev.user_id in self.users)]
        return kept, len(parsed) - len(kept)
