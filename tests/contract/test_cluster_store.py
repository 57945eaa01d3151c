"""The store contract on Redis Cluster: three masters on loopback (redis-server in cluster
mode), the whole suite that one Redis and the in-memory store pass."""

from __future__ import annotations

import uuid

import pytest

from streamrec.state.cluster_store import ClusterStore
from streamrec.state.protocols import Store

from .store_contract import StoreContract

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_cluster):
    async with ClusterStore(redis_cluster.url, f"t{uuid.uuid4().hex[:8]}:", buckets=8,
                            half_life_s=60.0, covisit_cap=10) as st:
        yield st


class TestClusterStore(StoreContract):
    def test_is_a_store(self, store):
        assert isinstance(store, Store)
