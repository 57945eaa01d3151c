"""What a worker caches of what it reads for ranking: candidate rows, catalog info and
text embeddings, each with the rule that keeps it fresh enough."""

from __future__ import annotations

import time
from typing import Any

from streamrec.state.protocols import Candidates, Store
from streamrec.streams.settings import Settings

Row = list[tuple[str, float]]


class ReadCache:
    """Candidate rows reused for up to ``candidate_cache_ms`` (a user's next list meets the
    same recent items: at 2,000 events/s most rows of a batch were read by the batch
    before; trending and the out-of-stock set are read every time, so stock changes act at
    once); catalog info until the catalog version moves; embeddings for good (missing ones
    asked again after 30 s)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._rows: dict[str, tuple[float, Row, Row]] = {}   # item -> (read at, cv, content)
        self._swept = time.monotonic()
        self._info: dict[str, dict[str, Any]] = {}
        self._info_version = 0
        self._vecs: dict[str, tuple[float, Any]] = {}        # item -> (read at, vector)

    # -- candidate rows -------------------------------------------------------------------
    async def candidates(self, items: list[str]) -> Candidates:
        s = self.settings
        need = self.rows_needed(items)
        got = await self.store.fetch_candidates(need, s.ranking.candidates_per_item,
                                                4 * s.ranking.k,
                                                content=s.ranking.content_weight > 0)
        return self.assemble(got, need, items)

    def rows_needed(self, items: list[str]) -> list[str]:
        """The items whose cached rows are missing or older than ``candidate_cache_ms``."""
        now, ttl = time.monotonic(), self.settings.ranking.candidate_cache_ms / 1000.0
        rows = self._rows
        return [i for i in dict.fromkeys(items) if i not in rows or now - rows[i][0] >= ttl]

    def assemble(self, got: Candidates, need: list[str], items: list[str]) -> Candidates:
        """Cache the rows just read (``got``, for ``need``) and assemble those of ``items``."""
        now, ttl = time.monotonic(), self.settings.ranking.candidate_cache_ms / 1000.0
        rows = self._rows
        for i in need:
            rows[i] = (now, got.covis.get(i, []), got.content.get(i, []))
        covis = {i: rows[i][1] for i in items if i in rows and rows[i][1]}
        content = {i: rows[i][2] for i in items if i in rows and rows[i][2]}
        # forget rows not used lately (after this batch's are taken: with a cache time of
        # 0, as in evaluation, the sweep once dropped the rows just read, and a list a
        # second was ranked without co-visitation)
        if now - self._swept > max(10 * ttl, 1.0):
            self._rows = {i: r for i, r in rows.items() if now - r[0] < ttl}
            self._swept = now
        return Candidates(covis, content, got.trending, got.out_of_stock, got.catalog_version)

    # -- catalog info and embeddings ------------------------------------------------------
    async def catalog_info(self, items: set[str], version: int | None = None
                           ) -> dict[str, dict[str, Any]]:
        """Category and prices of ``items``, cached until the catalog version (read with
        the candidates) changes; stock is exact via the out-of-stock set. Without
        ``version``: as of the last version seen."""
        if version is not None and version != self._info_version:
            self._info, self._info_version = {}, version
        info = self._info
        missing = [i for i in items if i not in info]
        if missing:
            got = await self.store.catalog_info(sorted(missing))
            for i in missing:
                info[i] = got.get(i, {})
        return {i: info[i] for i in items}

    async def embeddings(self, items: set[str], retry_missing_s: float = 30.0
                         ) -> dict[str, Any]:
        """Text embeddings of ``items`` (published by the scorer); items without one are
        asked for again after ``retry_missing_s``."""
        now = time.monotonic()
        vecs = self._vecs
        need = [i for i in items if i not in vecs or
                (vecs[i][1] is None and now - vecs[i][0] > retry_missing_s)]
        if need:
            got = await self.store.embeddings(sorted(need))
            for i in need:
                vecs[i] = (now, got.get(i))
        return {i: vecs[i][1] for i in items if vecs[i][1] is not None}
