"""The Redis key schema: every key family streamrec writes, its type, lifetime and writer.

All keys are under ``STREAMREC_REDIS_PREFIX``. ``{...}`` is one path segment's worth of id
(an item, user, experiment or impression id, or ``topic:partition``). A test checks that
every key a worker, the API and the learner leave in Redis belongs to a family here.

>>> family_of("cv:42").writer, family_of("wm").type
('worker (commit.lua)', 'hash')
>>> family_of("ids:events:3").type
'zset'
>>> family_of("nope") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyFamily:
    pattern: str      # e.g. "cv:{item}"
    type: str         # Redis type
    ttl: str          # "none" or what bounds it
    writer: str
    what: str

    def matches(self, key: str) -> bool:
        rx = "^" + re.sub(r"\\\{[a-z_]+\\\}", ".+", re.escape(self.pattern)) + "$"
        return re.match(rx, key) is not None


KEYS: tuple[KeyFamily, ...] = (
    # exactly-once bookkeeping
    KeyFamily("wm", "hash", "none", "worker (commit.lua)",
              "per topic:partition, the next event offset whose effects are to be applied"),
    KeyFamily("wm:pop", "hash", "none", "worker (commit.lua, read round trip)",
              "the same for trending, which is applied before ranking"),
    KeyFamily("ids:{partition}", "zset", "capped at STREAMREC_DEDUP_WINDOW", "worker",
              "the partition's last STREAMREC_DEDUP_WINDOW event ids (score: offset)"),
    # what ranking reads
    KeyFamily("pop", "zset", "none", "worker", "trending: forward-decayed item popularity"),
    KeyFamily("pop:t0", "string", "none", "worker", "the base time of pop's scores"),
    KeyFamily("cv:{item}", "zset", "trimmed to STREAMREC_COVISIT_CAP", "worker (commit.lua)",
              "items co-visited with item, time-weighted"),
    KeyFamily("cs:{item}", "zset", "none", "scorer (--embed-catalog)",
              "items with similar titles and categories"),
    KeyFamily("emb", "hash", "none", "scorer (--embed-catalog)",
              "item -> text embedding (float16)"),
    KeyFamily("user:{user}", "string", "none", "worker (owner of the user's partition)",
              "the user's recent, seen and bought items (JSON)"),
    # catalog
    KeyFamily("catalog", "hash", "none", "catalog agent, rebuild",
              "item -> JSON {stock, price, prev_price, category, title}"),
    KeyFamily("items", "set", "none", "catalog agent, rebuild", "every catalog item id"),
    KeyFamily("catalog:v", "string", "none", "catalog agent, rebuild",
              "+1 on every catalog change (workers' caches check it)"),
    KeyFamily("catalog:built", "string", "none", "worker (catalog_rebuild.py)",
              "the catalog was rebuilt from catalog.updates (absent: rebuild on start)"),
    KeyFamily("oos", "set", "none", "catalog agent, rebuild", "items out of stock"),
    KeyFamily("oos_at", "zset", "none", "catalog agent, rebuild", "when each sold out"),
    # what the API serves
    KeyFamily("rec:{user}", "string", "none", "worker", "the user's latest list (JSON)"),
    # experiments and exploration
    KeyFamily("exps", "set", "none", "API", "experiment names"),
    KeyFamily("exp:{name}", "string", "none", "API (status: experiment_status.lua)",
              "an experiment's definition (JSON)"),
    KeyFamily("expstats:{name}", "hash", "none", "worker (commit.lua); API (reset)",
              "per variant: impressions, successes, clicks, purchases, reward"),
    KeyFamily("imp:{impression}", "string", "attribution window", "worker (commit.lua)",
              "an impression: experiment, variant, user, reward rules"),
    KeyFamily("impok:{impression}", "string", "attribution window", "worker (commit.lua)",
              "the impression's first success was counted"),
    KeyFamily("arm:n", "hash", "none", "worker", "item -> impressions in explored lists"),
    KeyFamily("arm:s", "hash", "none", "worker", "item -> clicks on explored lists"),
    # models
    KeyFamily("model:snapshot", "string", "none", "learner",
              "River models + the offsets they include, HMAC-signed (state/snapshots.py)"),
    KeyFamily("model:version", "string", "none", "learner", "the snapshot's version"),
    KeyFamily("model:metrics", "string", "none", "learner", "prequential CTR metrics (JSON)"),
    # metrics and liveness
    KeyFamily("metrics", "hash", "none", "worker", "cluster-wide counters and sums"),
    KeyFamily("lat", "hash", "none", "worker", "event-to-list latency histogram buckets"),
    KeyFamily("preqc", "hash", "none", "worker", "prequential curve by event-time bucket"),
    KeyFamily("served", "string (HyperLogLog)", "none", "worker", "distinct items served"),
    KeyFamily("workers", "hash", "none", "worker, learner",
              "process id -> heartbeat JSON {ts, lag, events_per_s, last_error}"),
    KeyFamily("scorer", "string", "none", "scorer", "the scorer's metrics (JSON)"),
)


def family_of(key: str) -> KeyFamily | None:
    """The family of ``key`` (without the prefix); exact names win over patterns."""
    for f in KEYS:
        if "{" not in f.pattern and f.pattern == key:
            return f
    for f in KEYS:
        if "{" in f.pattern and f.matches(key):
            return f
    return None
