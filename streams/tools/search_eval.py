"""How well text search finds an item from words of its title (``streamrec search-eval``).

For each of ``n`` items drawn (seeded), the query is half of its title's words (at least
two, or all of a shorter title), shuffled and lower-cased, without a movielens year; the
item is found when it is among the top ``k`` answers. Reported: recall@1, @10 and @k, and
the latency of each answer, either in this process (the same encoder and index as the API)
or through a running API (``--api URL``: ``GET /search``, latency as a client sees it).

>>> title_query("Toy Story (1995)", random.Random(0))
'story toy'
>>> title_query("SET OF 3 HANGING OWLS OLLIE BEAK", random.Random(0))
'beak hanging ollie set'
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9']+")
_YEAR = re.compile(r"\((\d{4})(-\d{4})?\)\s*$")


def title_query(title: str, rng: random.Random) -> str:
    words = _WORD.findall(_YEAR.sub("", title).lower())
    keep = len(words) if len(words) <= 2 else max(2, math.ceil(len(words) / 2))
    picked = rng.sample(words, keep)
    return " ".join(picked)


def draw_queries(catalog: Sequence[dict[str, Any]], n: int, seed: int
                 ) -> list[tuple[str, str]]:
    """(item_id, query) for ``n`` items with a title, drawn with ``seed``."""
    rng = random.Random(seed)
    titled = [c for c in catalog if c.get("title") and _WORD.search(c["title"])]
    return [(c["item_id"], title_query(c["title"], rng))
            for c in rng.sample(titled, min(n, len(titled)))]


def _percentile(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else 0.0


async def recall(search: Callable[[str], Awaitable[list[str]]],
                 queries: Sequence[tuple[str, str]], k: int) -> dict[str, float]:
    """Recall@1, @10 and @``k`` of each query's own item, with latency p50/p99 (ms)."""
    ranks, took = [], []
    for item, q in queries:
        t0 = time.perf_counter()
        got = await search(q)
        took.append((time.perf_counter() - t0) * 1000.0)
        ranks.append(got.index(item) if item in got[:k] else None)
    n = max(len(queries), 1)

    def at(c: int) -> float:
        return round(sum(1 for r in ranks if r is not None and r < c) / n, 4)

    return {"queries": len(queries), "recall@1": at(1), "recall@10": at(10), f"recall@{k}": at(k),
            "p50_ms": round(_percentile(took, 0.5), 2), "p99_ms": round(_percentile(took, 0.99), 2)}


def in_process(catalog: Sequence[dict[str, Any]], kind: str = "flat", k: int = 20,
               encoder_dir: str | None = None) -> Callable[[str], Awaitable[list[str]]]:
    """A search function over ``catalog`` with the API's encoder and index (no stock, no
    profile: what the index alone finds)."""
    from streamrec.models.search import VectorIndex
    from streamrec.models.text_encoder import TextEncoder, item_text

    enc = TextEncoder(encoder_dir, device="cpu")
    idx = VectorIndex(enc.dim, kind)  # type: ignore[arg-type]
    idx.upsert([c["item_id"] for c in catalog],
               enc.encode([item_text(c["title"], c.get("category")) for c in catalog]))
    idx.swap(idx.build())

    async def search(q: str) -> list[str]:
        return [i for i, _ in idx.search(enc.encode([q])[0], k)]
    return search


def through_api(url: str, k: int = 20) -> Callable[[str], Awaitable[list[str]]]:
    """A search function that asks a running API's ``GET /search``."""
    import aiohttp

    session: list[aiohttp.ClientSession] = []

    async def search(q: str) -> list[str]:
        if not session:
            session.append(aiohttp.ClientSession())
        async with session[0].get(url.rstrip("/") + "/search", params={"q": q, "k": k}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"GET /search answered {r.status}: {body}")
            return [it["item_id"] for it in body["items"]]
    search.close = lambda: session[0].close() if session else None  # type: ignore[attr-defined]
    return search
