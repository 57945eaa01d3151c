"""What the in-memory store's parts (``memory_experiments.py``, ``memory_privacy.py``)
read and write: :class:`~streamrec.state.memory_store.MemoryStore`'s dicts."""

from __future__ import annotations

from typing import Any


class MemoryDicts:
    strings: dict[str, Any]
    hashes: dict[str, dict[str, Any]]
    sets: dict[str, set[str]]
    expiry: dict[str, float]

    def _hash(self, name: str) -> dict[str, Any]: ...
    def _get(self, key: str) -> Any: ...
