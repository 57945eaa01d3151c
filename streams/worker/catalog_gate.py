"""Which items an event may name: those in the catalog, known to this worker or read from
Redis, after a bounded wait for items the catalog has not delivered yet (a replay may
overtake its catalog)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from streamrec.state.protocols import CatalogState

KNOWN_PRELOAD_MAX = 200_000   # catalog ids a worker reads at once (~10 MB at most)
WAITED_MAX = 100_000          # unknown ids remembered as waited for


class CatalogGate:
    """Catalog membership for one worker (membership is never revoked)."""

    def __init__(self, store: CatalogState, wait_ms: int) -> None:
        self.store = store
        self.wait_ms = wait_ms
        self._known: set[str] = set()
        self._loaded = False
        self._changed = asyncio.Event()      # set by the catalog agent of this process
        self._waited: set[str] = set()       # unknown items waited for once already

    def applied(self, items: list[str]) -> None:
        """Catalog changes of ``items`` were just written (wakes the waiting batch)."""
        self._known.update(items)
        self._changed.set()

    async def unknown(self, items: set[str]) -> set[str]:
        """The items of ``items`` still not in the catalog after waiting for them."""
        missing = items - self._known
        if missing and not self._loaded:
            # a catalog of up to KNOWN_PRELOAD_MAX items is read once: each new item in
            # a batch would otherwise cost a round trip (other workers' catalog partitions)
            self._loaded = True
            self._known |= await self.store.all_items(KNOWN_PRELOAD_MAX)
            missing -= self._known
        if missing:
            self._known |= await self.store.known_items(sorted(missing))
            missing -= self._known
        return await self._wait(missing) if missing else missing

    async def _wait(self, unknown: set[str]) -> set[str]:
        """Wait up to ``wait_ms`` for ``unknown`` (this process's catalog agent wakes the
        wait; other workers' catalog partitions are re-read every 100 ms). An item waited
        for once is not waited for again."""
        before = unknown & self._waited
        wait = unknown - before
        deadline = time.monotonic() + self.wait_ms / 1000.0
        while wait and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(0.1, left))
            self._changed.clear()
            self._known |= await self.store.known_items(sorted(wait))
            wait -= self._known
        if len(self._waited) > WAITED_MAX:
            self._waited.clear()
        self._waited |= wait
        return wait | before
