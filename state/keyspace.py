"""Key names and clients for one Redis or for Redis Cluster, from the prefix alone.

On one Redis a key is the prefix and its name. On Redis Cluster it also carries a hash
tag: a user's state and list and an item's rows (``user:``, ``rec:``, ``cv:``, ``cs:``) go
by a bucket of their id (``buckets`` of them, fixed for the life of the data), and
everything else goes to one global slot ``{g}`` (``state/cluster_store.py`` says why).

>>> Keyspace("sr:").key("cv:42"), Keyspace("sr:", cluster=True, buckets=16).key("cv:42")
('sr:cv:42', 'sr:{b8}cv:42')
>>> Keyspace("sr:", cluster=True).key("model:snapshot")
'sr:{g}model:snapshot'
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

BUCKETED = ("cv:", "cs:", "user:", "rec:")    # families keyed by one user's or item's id


@dataclass(frozen=True)
class Keyspace:
    prefix: str = ""
    cluster: bool = False
    buckets: int = 64

    def __post_init__(self) -> None:
        if self.cluster and ("{" in self.prefix or "}" in self.prefix):
            raise ValueError(f"STREAMREC_REDIS_PREFIX={self.prefix!r} has a brace: on Redis "
                             "Cluster streamrec adds the hash tags itself; drop them")
        if self.buckets < 1:
            raise ValueError(f"STREAMREC_REDIS_CLUSTER_BUCKETS={self.buckets}: must be >= 1")

    def tag(self, name: str) -> str:
        """The hash tag of key ``name`` (no prefix) on a cluster: a bucket, or "g"."""
        for family in BUCKETED:
            if name.startswith(family):
                return f"b{zlib.crc32(name[len(family):].encode()) % self.buckets}"
        return "g"

    def key(self, name: str) -> str:
        if not self.cluster:
            return self.prefix + name
        return f"{self.prefix}{{{self.tag(name)}}}{name}"

    def client(self, url: str, *, decode: bool = False, **kw: Any) -> Any:
        """A redis-py asyncio client of ``url``: a cluster client on a cluster."""
        if self.cluster:
            from redis.asyncio.cluster import RedisCluster
            return RedisCluster.from_url(url, decode_responses=decode, **kw)
        import redis.asyncio as aioredis
        return aioredis.Redis.from_url(url, decode_responses=decode, **kw)
