"""The worker's read cache over the in-memory store (no server)."""

from __future__ import annotations

from streamrec.state.batch import BatchWrite
from streamrec.state.memory_store import MemoryStore
from streamrec.streams.settings import Settings
from streamrec.streams.worker.read_cache import ReadCache


async def test_rows_just_read_survive_the_sweep_with_no_cache_time():
    """With ``candidate_cache_ms=0`` (evaluation) every row is read again each batch; the
    sweep of old rows must not drop the rows the batch just read (it once did, about once
    a second, and such a list was ranked without co-visitation)."""
    store = MemoryStore()
    await store.commit(BatchWrite(visits=[("b", ["a"], 1.0)]))
    cache = ReadCache(store, Settings.from_env({}, candidate_cache_ms=0))
    cache._swept = float("-inf")             # a sweep is due now
    got = await cache.candidates(["a"])
    assert got.covis == {"a": [("b", 1.0)]}
    assert (await cache.candidates(["a"])).covis == {"a": [("b", 1.0)]}


async def test_rows_are_reused_within_the_cache_time_and_read_again_after():
    store = MemoryStore()
    await store.commit(BatchWrite(visits=[("b", ["a"], 1.0)]))
    cache = ReadCache(store, Settings.from_env({}, candidate_cache_ms=60_000))
    assert (await cache.candidates(["a"])).covis == {"a": [("b", 1.0)]}
    await store.commit(BatchWrite(visits=[("c", ["a"], 5.0)]))
    assert (await cache.candidates(["a"])).covis == {"a": [("b", 1.0)]}   # cached
    fresh = ReadCache(store, Settings.from_env({}, candidate_cache_ms=0))
    assert (await fresh.candidates(["a"])).covis == {"a": [("c", 5.0), ("b", 1.0)]}
