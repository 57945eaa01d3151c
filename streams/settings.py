"""One typed settings object, read from ``STREAMREC_*`` env vars and CLI flags.

Every field names its env var (``STREAMREC_`` + the field name in upper case) and is
validated when the object is built, so a bad value fails at start with a message that
names the setting and what is allowed.

>>> s = Settings.from_env({"STREAMREC_K": "10"})
>>> s.k, s.topic("events.view")
(10, 'events.view')
>>> try:
...     Settings.from_env({"STREAMREC_K": "zero"})
... except SettingsError as e:
...     print(e)
STREAMREC_K='zero': must be an integer (top-K items per recommendation list, 1..500)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamrec.streams.exceptions import SettingsError

ENV_PREFIX = "STREAMREC_"


def _spec(default: Any, help: str, lo: float | None = None, hi: float | None = None,
          choices: tuple[str, ...] | None = None, secret: bool = False,
          min_len: int = 16) -> Any:
    return field(default=default, repr=not secret,
                 metadata={"help": help, "lo": lo, "hi": hi, "choices": choices,
                           "secret": secret, "min_len": min_len})


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and errors).

    >>> redact_url("redis://app:s3cret@db:6379/0"), redact_url("redis://:pw@h:1")
    ('redis://app:***@db:6379/0', 'redis://:***@h:1')
    """
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in auth:
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field ``x`` is read from env var ``STREAMREC_X``."""

    broker: str = _spec("", "Kafka bootstrap servers host:port[,host:port]; empty = embedded "
                        "Tansu broker (demo only)")
    redis_url: str = _spec("", "Redis URL redis://host:port/db; empty = embedded redis-server "
                           "(demo only)")
    kafka_security_protocol: str = _spec(
        "PLAINTEXT", "how every Kafka client connects: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT "
        "or SASL_SSL (SASL over TLS); TLS verifies the broker's certificate",
        choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    kafka_sasl_mechanism: str = _spec("PLAIN", "SASL mechanism with SASL_*: PLAIN, "
                                      "SCRAM-SHA-256 or SCRAM-SHA-512",
                                      choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
    kafka_username: str = _spec("", "SASL user name")
    kafka_password: str = _spec("", "SASL password", secret=True, min_len=1)
    kafka_ssl_cafile: str = _spec("", "CA file that signs the brokers' certificates (empty: "
                                  "the system's CAs)")
    kafka_ssl_certfile: str = _spec("", "client certificate (PEM) for brokers that require "
                                    "one")
    kafka_ssl_keyfile: str = _spec("", "key of the client certificate (PEM)")
    topic_prefix: str = _spec("", "prefix added to every topic name (isolates test runs)")
    redis_prefix: str = _spec("", "prefix added to every Redis key")
    app_id: str = _spec("streamrec", "Faust app id = the workers' consumer group of the "
                        "catalog; the event topics' group is `APP_ID.events`")
    partitions: int = _spec(4, "partitions of each topic created by streamrec", 1, 1024)
    k: int = _spec(20, "top-K items per recommendation list", 1, 500)
    recent_items: int = _spec(20, "recent items kept per user", 1, 1000)
    covisit_window: int = _spec(10, "previous items of a user each new item is paired with, "
                                "and recent items whose co-visited items are candidates",
                                1, 100)
    covisit_backward: float = _spec(0.5, "weight of a co-visitation pair from the newer item "
                                    "to the older (the forward pair weighs 1)", 0.0, 1.0)
    covisit_half_life_s: float = _spec(2 * 365 * 86400.0, "co-visitation pairs count double "
                                       "every this many seconds of event time, so newer "
                                       "pairs weigh more (0 = off; at least 30 days)",
                                       0.0, 1e12)
    recency_decay: float = _spec(0.85, "weight ratio of each recent item to the next newer one "
                                 "when summing co-visitation candidates", 0.0, 1.0)
    covisit_cap: int = _spec(200, "co-visited items kept per item in Redis", 10, 100000)
    candidates_per_item: int = _spec(50, "co-visitation candidates fetched per recent item",
                                     1, 1000)
    candidate_cache_ms: int = _spec(5000, "a worker reuses an item's candidate rows for up "
                                    "to this long (0 = read them for every batch; `evaluate` "
                                    "uses 0); stock and trending are read for every batch",
                                    0, 600000)
    half_life_s: float = _spec(7 * 86400.0, "half-life in seconds of the trending score",
                               1.0, 1e10)
    trending_weight: float = _spec(0.1, "weight of trending in the blend score", 0.0, 100.0)
    ranking: str = _spec("blend", "ranking without an experiment: blend, covisit, trending, or "
                         "mf / ctr (River model alone over the blend's candidates)",
                         choices=("blend", "covisit", "trending", "mf", "ctr"))
    content_weight: float = _spec(0.3, "weight of content similarity (text embeddings) in the "
                                  "blend; 0 = off", 0.0, 100.0)
    exclude_seen: bool = _spec(True, "never recommend items the user already interacted with")
    scorer: bool = _spec(False, "ask the transformer scoring worker (streamrec scorer)")
    score_deadline_ms: int = _spec(100, "wait at most this long for transformer scores, then "
                                   "rank without them (and say so)", 1, 60000)
    score_candidates: int = _spec(50, "candidates per user sent to the scorer", 1, 10000)
    transformer_weight: float = _spec(0.5, "weight of the transformer score when blending",
                                      0.0, 1.0)
    learned_ranker: bool = _spec(True, "order the blend's candidates with an online "
                                 "learning-to-rank model (models/ltr.py) trained on what "
                                 "users view next; the blend order until it has warmed up")
    ranker_candidates: int = _spec(100, "blend candidates per user the learned ranker orders",
                                   1, 10000)
    ranker_warm_up: int = _spec(1000, "viewed candidates the learned ranker learns from "
                                "before it orders lists", 0, 10_000_000)
    river_weight: float = _spec(0.3, "weight of the River models (MF + CTR) when a learner "
                                "publishes snapshots; 0 = off", 0.0, 1.0)
    diversity_lambda: float = _spec(0.8, "MMR trade-off: 1 = relevance only, lower = more "
                                    "diverse categories", 0.0, 1.0)
    price_drop_boost: float = _spec(0.5, "boost items whose price dropped: score x (1 + boost x "
                                    "relative drop); 0 = off", 0.0, 100.0)
    min_price: float = _spec(0.0, "never recommend items priced below this (e.g. a margin "
                             "floor); 0 = off", 0.0, 1e9)
    explore: bool = _spec(False, "Thompson sampling among each user's candidates (prior from "
                          "the ranking score, clicks shared in Redis)")
    explore_prior_strength: float = _spec(20.0, "how many impressions the ranking prior is "
                                          "worth when exploring", 0.01, 1e6)
    prequential_bucket_s: float = _spec(30 * 86400.0, "width in event-time seconds of the "
                                        "buckets of the prequential curve", 1.0, 1e12)
    session_timeout_s: float = _spec(6.0, "session timeout of the event topics' consumer "
                                     "(group `{app_id}.events`): a worker silent this long "
                                     "leaves the group (raise it on an overloaded machine); "
                                     "Faust's own group (catalog only) uses at most 6 s",
                                     1.0, 3600.0)
    batch_size: int = _spec(1000, "max events the worker processes per batch", 1, 100000)
    batch_wait_ms: int = _spec(10, "longest the worker waits for events when none are "
                               "waiting; a batch never waits to fill: it is what arrived "
                               "while the last one was processed (small when idle, up to "
                               "`STREAMREC_BATCH_SIZE` when behind)", 1, 10000)
    fetch_max_wait_ms: int = _spec(10, "longest a broker may hold a fetch; low = low latency",
                                   1, 10000)
    max_event_bytes: int = _spec(16384, "larger event payloads go to the DLQ", 64, 10_000_000)
    dedup_window: int = _spec(100_000, "event ids remembered per partition: an event whose "
                              "event_id is among its partition's last this many is a "
                              "duplicate and is dropped (redelivered offsets are dropped by "
                              "the watermarks whatever this is; 0 = no id check)",
                              0, 10_000_000)
    max_future_s: float = _spec(86400.0, "events stamped more than this many seconds after "
                                "the worker's clock go to the DLQ (a future time would stop "
                                "trending for good); ts may be Unix seconds or milliseconds",
                                0.0, 1e9)
    api_host: str = _spec("127.0.0.1", "interface the HTTP API binds")
    api_port: int = _spec(8080, "port of the HTTP API (0 = a free port)", 0, 65535)
    data_dir: str = _spec("", "folder of movielens-small; empty = ../shared/data/movielens-small "
                          "searched upward from the working directory")
    replay_rate: float = _spec(2000.0, "events/s the replay produces (0 = as fast as possible)",
                               0.0, 1e7)
    replay_users: int = _spec(100, "replay only the first N users of the dataset (0 = all)",
                              0, 10_000_000)
    scenario: bool = _spec(True, "demo: simulate sell-outs, restocks and price changes (seeded)")
    seed: int = _spec(7, "seed of every random choice (simulated prices, stock, ids)", 0, 2**32 - 1)
    log_level: str = _spec("warning", "log level", choices=("debug", "info", "warning", "error"))
    snapshot_key: str = _spec("", "secret key (16+ characters) that signs the learner's model "
                              "snapshots (HMAC-SHA256); workers unpickle only snapshots "
                              "signed with it. Required by the learner, and by workers "
                              "with RIVER_WEIGHT > 0; the demo makes one per run",
                              secret=True)
    admin_token: str = _spec("", "bearer token of the API's admin endpoints (experiments); "
                             "empty = admin endpoints answer 401", secret=True)
    outage_wait_s: float = _spec(300.0, "how long the worker and learner wait out a Redis "
                                 "outage (retrying with backoff) before exiting non-zero",
                                 0.0, 86400.0)
    unknown_item_wait_ms: int = _spec(2000, "how long an event for an item not yet in the "
                                      "catalog waits for it (a replay may overtake the "
                                      "catalog) before it goes to the DLQ", 0, 600000)
    # the scorer (streamrec scorer) and the learner (streamrec learner)
    scorer_model_dir: str = _spec("artifacts/seqrec", "scorer: the model folder from "
                                  "`streamrec train` (a newer model saved there is swapped in)")
    scorer_max_batch: int = _spec(64, "scorer: requests per forward pass at most", 1, 4096)
    scorer_max_wait_ms: float = _spec(5.0, "scorer: longest a request waits for its batch to "
                                      "fill", 0.0, 10000.0)
    scorer_queue_size: int = _spec(1024, "scorer: requests queued at most (then the oldest "
                                   "are answered with an error)", 1, 1_000_000)
    scorer_device: str = _spec("", "scorer: cuda or cpu; empty = cuda if present")
    scorer_embed_catalog: bool = _spec(False, "scorer: embed catalog titles (MiniLM) and "
                                       "publish content neighbours to Redis")
    learner_snapshot_every: int = _spec(5000, "learner: events per River snapshot", 1,
                                        1_000_000_000)
    learner_snapshot_seconds: float = _spec(5.0, "learner: seconds between River snapshots "
                                            "at most", 0.1, 86400.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check(f, getattr(self, f.name))
        if self.broker:
            for hostport in self.broker.split(","):
                host, _, port = hostport.rpartition(":")
                if not host or "/" in host or not port.isdigit():
                    raise SettingsError(
                        f"{ENV_PREFIX}BROKER={self.broker!r}: expected host:port[,host:port], "
                        "e.g. 127.0.0.1:9092 (no kafka:// scheme)")
        if 0 < self.covisit_half_life_s < 30 * 86400:
            raise SettingsError(
                f"{ENV_PREFIX}COVISIT_HALF_LIFE_S={self.covisit_half_life_s:g}: use 0 (off) or "
                "at least 2592000 (30 days); shorter half-lives overflow the pair weights "
                "within a few years")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                f"{ENV_PREFIX}REDIS_URL={redact_url(self.redis_url)!r}: expected "
                "redis://host:port/db, "
                "rediss://... or unix://...")

    def __repr__(self) -> str:
        """Every setting but the secrets; a password in the Redis URL shows as ``***``."""
        parts = []
        for f in dataclasses.fields(self):
            if f.metadata["secret"]:
                continue
            v = getattr(self, f.name)
            parts.append(f"{f.name}={redact_url(v) if f.name == 'redis_url' else v!r}")
        return f"Settings({', '.join(parts)})"

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from env vars (default ``os.environ``); non-None ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
            elif name in env:
                values[f.name] = _parse(f, env[name])
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The env vars that rebuild this object in a child process."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[ENV_PREFIX + f.name.upper()] = str(int(v) if isinstance(v, bool) else v)
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    # -- derived names -----------------------------------------------------------------
    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def resolved_data_dir(self) -> Path:
        """The movielens-small folder; raises DataMissing with what to do if absent."""
        from streamrec.streams.exceptions import DataMissing

        if self.data_dir:
            p = Path(self.data_dir)
            if (p / "ratings.csv").exists():
                return p
            raise DataMissing(p)
        for base in search_roots():
            p = base / "shared" / "data" / "movielens-small"
            if (p / "ratings.csv").exists():
                return p
        raise DataMissing(None)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(env var, default, help) rows, for the README and ``--help``."""
        return [(ENV_PREFIX + f.name.upper(), repr(f.default), f.metadata["help"])
                for f in dataclasses.fields(cls)]

    @classmethod
    def markdown(cls) -> str:
        """The README's configuration table (``python -m streamrec.streams.settings``)."""
        rows = [f"| `{n}` | `{d}` | {h} |" for n, d, h in cls.describe()]
        return "\n".join(["| env var | default | meaning |", "|---|---|---|", *rows])


def search_roots() -> list[Path]:
    """Folders searched for shared/data/movielens-small: the working directory and up."""
    here = Path.cwd().resolve()
    return [here, *here.parents]


def _allowed(f: dataclasses.Field) -> str:
    m = f.metadata
    if m["choices"]:
        return "one of " + ", ".join(m["choices"])
    if m["lo"] is not None:
        hi = m["hi"]
        return f"{m['help']}, {m['lo']:g}..{hi:g}" if hi is not None else f">= {m['lo']:g}"
    return m["help"]


def _parse(f: dataclasses.Field, raw: str) -> Any:
    name = ENV_PREFIX + f.name.upper()
    try:
        if f.type in ("int", int):
            return int(raw)
        if f.type in ("float", float):
            return float(raw)
        if f.type in ("bool", bool):
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        kind = {"int": "an integer", "float": "a number", "bool": "a boolean (1/0, true/false)"}
        raise SettingsError(
            f"{name}={raw!r}: must be {kind[str(f.type)]} ({_allowed(f)})") from None
    return raw


def _check(f: dataclasses.Field, value: Any) -> None:
    m, name = f.metadata, ENV_PREFIX + f.name.upper()
    if m["secret"]:
        if not isinstance(value, str):
            raise SettingsError(f"{name}: must be a string (value not shown: a secret)")
        if value and len(value) < m["min_len"]:
            raise SettingsError(f"{name}: at least {m['min_len']} characters (value not "
                                "shown: a secret)")
        return
    expected = {"int": int, "float": (int, float), "bool": bool, "str": str}[str(f.type)]
    if not isinstance(value, expected) or (str(f.type) == "int" and isinstance(value, bool)):
        raise SettingsError(f"{name}={value!r}: must be of type {f.type} ({_allowed(f)})")
    if m["choices"] and value not in m["choices"]:
        raise SettingsError(f"{name}={value!r}: must be {_allowed(f)}")
    if m["lo"] is not None and not (m["lo"] <= value <= m["hi"]):
        raise SettingsError(f"{name}={value!r}: out of range ({_allowed(f)})")


if __name__ == "__main__":
    print(Settings.markdown())
