"""The store contract on the in-memory backend (no server)."""

from __future__ import annotations

import pytest

from streamrec.state.memory_store import MemoryStore
from streamrec.state.protocols import Store

from .store_contract import StoreContract


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(half_life_s=60.0, covisit_cap=10)


class TestMemoryStore(StoreContract):
    def test_is_a_store(self, store):
        assert isinstance(store, Store)
