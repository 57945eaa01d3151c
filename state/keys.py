"""The Redis key schema: every key family streamrec writes, its type, lifetime and writer.

All keys are under ``STREAMREC_REDIS_PREFIX``; on Redis Cluster each also carries a hash
tag after the prefix (``state/cluster_store.py``), and a bucket slot has its own ``wm``
and ``forgotten``. ``{...}`` is one path segment's worth of id
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


# The schema as a Markdown table, read as it renders: one row a family,
# a bold row a group. Patterns are in backticks.
TABLE = """
| family | type | lifetime | written by | what it holds |
|---|---|---|---|---|
| **exactly-once bookkeeping** | | | | |
| `wm` | hash | none | worker (commit.lua) | per topic:partition, the next event offset whose effects are to be applied |
| `wm:pop` | hash | none | worker (commit.lua, read round trip) | the same for trending, which is applied before ranking |
| `wmi` | hash | none | worker (commit.lua), Redis Cluster only | per topic:partition, the intent of the batch that last moved its watermark |
| `intent:{batch}` | string | until its writer's next batch, or a recovery | worker (commit.lua), Redis Cluster only | a batch's writes to the bucket slots (state/cluster_store.py), applied again by whoever finds them left |
| `ids:{partition}` | zset | capped at STREAMREC_DEDUP_WINDOW | worker | the partition's last STREAMREC_DEDUP_WINDOW event ids (score: offset) |
| **what ranking reads** | | | | |
| `pop` | zset | none | worker | trending: forward-decayed item popularity |
| `pop:t0` | string | none | worker | the base time of pop's scores |
| `cv:{item}` | zset | trimmed to STREAMREC_COVISIT_CAP | worker (commit.lua) | items co-visited with item, time-weighted |
| `cs:{item}` | zset | none | scorer (--embed-catalog) | items with similar titles and categories |
| `emb` | hash | none | scorer (--embed-catalog) | item -> text embedding (float16) |
| `user:{user}` | string | none | worker (owner of the user's partition) | the user's recent, seen and bought items (JSON) |
| **catalog** | | | | |
| `catalog` | hash | none | catalog agent, rebuild | item -> JSON {stock, price, prev_price, category, title} |
| `items` | set | none | catalog agent, rebuild | every catalog item id |
| `catalog:v` | string | none | catalog agent, rebuild | +1 on every catalog change (workers' caches check it) |
| `catalog:built` | string | none | worker (catalog_rebuild.py) | the catalog was rebuilt from catalog.updates (absent: rebuild on start) |
| `oos` | set | none | catalog agent, rebuild | items out of stock |
| `oos_at` | zset | none | catalog agent, rebuild | when each sold out |
| **what the API serves** | | | | |
| `rec:{user}` | string | none | worker | the user's latest list (JSON) |
| **experiments and exploration** | | | | |
| `exps` | set | none | API | experiment names |
| `exp:{name}` | string | none | API (status: experiment_status.lua) | an experiment's definition (JSON) |
| `expstats:{name}` | hash | none | worker (commit.lua); API (reset) | per variant: impressions, successes, clicks, purchases, reward |
| `imp:{impression}` | string | attribution window | worker (commit.lua) | an impression: experiment, variant, user, reward rules |
| `impok:{impression}` | string | attribution window | worker (commit.lua) | the impression's first success was counted |
| `arm:n` | hash | none | worker | item -> impressions in explored lists |
| `arm:s` | hash | none | worker | item -> clicks on explored lists |
| **privacy** | | | | |
| `forgotten` | hash | until the user consents again | API (forget.lua) | user -> when it was forgotten (`DELETE /users/{id}`): nothing is written for it, its events are skipped |
| `forgotten:v` | string | none | API | +1 on every forget and consent (workers' caches of `forgotten` check it) |
| **models** | | | | |
| `model:snapshot` | string | none | learner | River models + the offsets they include, HMAC-signed (state/snapshots.py) |
| `model:version` | string | none | learner | the snapshot's version |
| `model:metrics` | string | none | learner | prequential CTR metrics (JSON) |
| **metrics and liveness** | | | | |
| `metrics` | hash | none | worker | cluster-wide counters and sums |
| `lat` | hash | none | worker | event-to-list latency histogram buckets |
| `preqc` | hash | none | worker | prequential curve by event-time bucket |
| `served` | string (HyperLogLog) | none | worker | distinct items served |
| `workers` | hash | none | worker, learner | process id -> heartbeat JSON {ts, lag, events_per_s, last_error} |
| `scorer` | string | none | scorer | the scorer's metrics (JSON) |
"""


def _parse(table: str) -> tuple[KeyFamily, ...]:
    """The families of ``table``'s rows (the header, rule and group rows are skipped).

    >>> _parse("| `a:{item}` | set | none | worker | a's items |")[0].pattern
    'a:{item}'
    """
    rows = (line.strip().strip("|").split("|") for line in table.splitlines())
    return tuple(KeyFamily(cells[0].strip().strip("`"), *(c.strip() for c in cells[1:]))
                 for cells in rows if cells[0].strip().startswith("`"))


KEYS: tuple[KeyFamily, ...] = _parse(TABLE)


def family_of(key: str) -> KeyFamily | None:
    """The family of ``key`` (without the prefix); exact names win over patterns."""
    for f in KEYS:
        if "{" not in f.pattern and f.pattern == key:
            return f
    for f in KEYS:
        if "{" in f.pattern and f.matches(key):
            return f
    return None
