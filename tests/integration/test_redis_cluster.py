"""The embedded Redis Cluster (three masters on loopback) that issue 22's cluster work is
tested on: it forms, spreads keys over its nodes, and refuses what a single Redis allows
and a cluster cannot (a script or a multi-key command across hash slots)."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(redis_cluster):
    return redis_cluster


def test_three_masters_share_the_slots_and_the_keys(cluster):
    client = RedisCluster.from_url(cluster.url)
    try:
        assert len(client.get_primaries()) == 3
        for i in range(300):
            client.set(f"spread:k{i}", i)
        per_node = []
        for host, port in cluster.nodes:   # (the session's cluster holds other tests' keys)
            node = redis.Redis(host, port, password=cluster.password)
            per_node.append(len(node.keys("spread:k*")))
            node.close()
        assert sum(per_node) == 300 and min(per_node) > 50     # ~100 each
        assert [int(client.get(f"spread:k{i}")) for i in range(300)] == list(range(300))
    finally:
        client.close()


def test_keys_of_one_hash_tag_go_together_and_others_are_refused(cluster):
    client = RedisCluster.from_url(cluster.url)
    try:
        script = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1])"
        client.eval(script, 2, "{u1}:a", "{u1}:b", "x")           # one slot: runs
        assert client.mget_nonatomic("{u1}:a", "{u1}:b") == [b"x", b"x"]
        with pytest.raises(redis.exceptions.RedisClusterException):
            client.eval(script, 2, "{u1}:a", "{u2}:b", "x")       # two slots: refused
    finally:
        client.close()


def test_a_script_that_computes_its_key_names_is_refused_off_its_node(cluster):
    """Why state/lua/commit.lua cannot run on a cluster as it is: it builds key names from
    its arguments, and a key of another node's slot fails the whole script."""
    host, port = cluster.nodes[0]
    node = redis.Redis(host, port, password=cluster.password)
    try:
        script = "for i = 0, 20 do redis.call('SET', ARGV[1] .. i, 1) end return 1"
        with pytest.raises(redis.exceptions.ResponseError, match="non local key|MOVED"):
            node.eval(script, 0, "computed:")
    finally:
        node.close()
