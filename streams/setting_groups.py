"""The settings' groups (kafka, redis, ranking, serving, evaluation, demo): each field
``x`` is read by pydantic-settings from env var ``STREAMREC_X``. ``streams/settings.py``
puts them together in ``Settings``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "STREAMREC_"


def setting(default: Any, help: str, lo: float | None = None,
            hi: float | None = None) -> Any:
    """A field with its meaning (for the README, ``--help`` and errors) and its range."""
    return Field(default, description=help, ge=lo, le=hi,
                 json_schema_extra={"lo": lo, "hi": hi})


def _at_least(n: int) -> AfterValidator:
    def check(v: SecretStr) -> SecretStr:
        if v.get_secret_value() and len(v.get_secret_value()) < n:
            raise ValueError(f"at least {n} characters")
        return v
    return AfterValidator(check)


Secret1 = Annotated[SecretStr, _at_least(1)]
Secret16 = Annotated[SecretStr, _at_least(16)]


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


class _Group(BaseSettings):
    """A group of settings: each field from env var ``STREAMREC_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")


class KafkaSettings(_Group):
    """Kafka: the brokers, how clients authenticate, the topics, how the worker consumes."""

    broker: str = setting("", "Kafka bootstrap servers host:port[,host:port]; empty = embedded "
                          "Tansu broker (demo only)")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = setting(
        "PLAINTEXT", "how every Kafka client connects: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or "
        "SASL_SSL (SASL over TLS); TLS verifies the broker's certificate")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = setting(
        "PLAIN", "SASL mechanism with SASL_*: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    kafka_username: str = setting("", "SASL user name")
    kafka_password: Secret1 = setting(SecretStr(""), "SASL password")
    kafka_ssl_cafile: str = setting("", "CA file that signs the brokers' certificates (empty: "
                                    "the system's CAs)")
    kafka_ssl_certfile: str = setting("", "client certificate (PEM) for brokers that require "
                                      "one")
    kafka_ssl_keyfile: str = setting("", "key of the client certificate (PEM)")
    topic_prefix: str = setting("", "prefix added to every topic name (isolates test runs)")
    app_id: str = setting("streamrec", "Faust app id = the workers' consumer group of the "
                          "catalog; the event topics' group is `APP_ID.events`")
    partitions: int = setting(4, "partitions of each topic created by streamrec", 1, 1024)
    session_timeout_s: float = setting(6.0, "session timeout of the event topics' consumer "
                                       "(group `{app_id}.events`): a worker silent this long "
                                       "leaves the group (raise it on an overloaded machine); "
                                       "Faust's own group (catalog only) uses at most 6 s",
                                       1.0, 3600.0)
    batch_size: int = setting(1000, "max events the worker processes per batch", 1, 100000)
    batch_wait_ms: int = setting(10, "longest the worker waits for events when none are "
                                 "waiting; a batch never waits to fill: it is what arrived "
                                 "while the last one was processed (small when idle, up to "
                                 "`STREAMREC_BATCH_SIZE` when behind)", 1, 10000)
    fetch_max_wait_ms: int = setting(10, "longest a broker may hold a fetch; low = low latency",
                                     1, 10000)

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str) -> str:
        for hostport in v.split(",") if v else ():
            host, _, port = hostport.rpartition(":")
            if not host or "/" in host or not port.isdigit():
                raise ValueError(
                    "expected host:port[,host:port], e.g. 127.0.0.1:9092 (no kafka:// scheme)"
                )
        return v


class RedisSettings(_Group):
    """Redis: where shared state lives, and how long an outage is waited out."""

    redis_url: str = setting("", "Redis URL redis://host:port/db; empty = embedded redis-server "
                             "(demo only)")
    redis_prefix: str = setting("", "prefix added to every Redis key")
    redis_cluster: bool = setting(False, "redis_url is a node of a Redis Cluster: keys carry "
                                  "hash tags and a batch is written slot by slot "
                                  "(state/cluster_store.py)")
    redis_cluster_buckets: int = setting(64, "Redis Cluster: hash-tag buckets that users' and "
                                         "items' keys are spread over (fixed for the life of "
                                         "the data)", 1, 16384)
    outage_wait_s: float = setting(300.0, "how long the worker and learner wait out a Redis "
                                   "outage (retrying with backoff) before exiting non-zero",
                                   0.0, 86400.0)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db, rediss://... or unix://...")
        return v

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, v in super().__repr_args__():
            yield name, redact_url(v) if name == "redis_url" else v


class RankingSettings(_Group):
    """Ranking: candidates, the blend, models, rules, diversity and exploration."""

    k: int = setting(20, "top-K items per recommendation list", 1, 500)
    recent_items: int = setting(20, "recent items kept per user", 1, 1000)
    covisit_window: int = setting(10, "previous items of a user each new item is paired with, "
                                  "and recent items whose co-visited items are candidates", 1, 100)
    covisit_backward: float = setting(0.5, "weight of a co-visitation pair from the newer item "
                                      "to the older (the forward pair weighs 1)", 0.0, 1.0)
    covisit_half_life_s: float = setting(2 * 365 * 86400.0, "co-visitation pairs count double "
                                         "every this many seconds of event time, so newer pairs "
                                         "weigh more (0 = off; at least 30 days)", 0.0, 1e12)
    recency_decay: float = setting(0.85, "weight ratio of each recent item to the next newer "
                                   "one when summing co-visitation candidates", 0.0, 1.0)
    covisit_cap: int = setting(200, "co-visited items kept per item in Redis", 10, 100000)
    candidates_per_item: int = setting(50, "co-visitation candidates fetched per recent item",
                                       1, 1000)
    candidate_cache_ms: int = setting(5000, "a worker reuses an item's candidate rows for up to "
                                      "this long (0 = read them for every batch; `evaluate` "
                                      "uses 0); stock and trending are read for every batch",
                                      0, 600000)
    half_life_s: float = setting(7 * 86400.0, "half-life in seconds of the trending score",
                                 1.0, 1e10)
    trending_weight: float = setting(0.1, "weight of trending in the blend score", 0.0, 100.0)
    ranking: Literal["blend", "covisit", "trending", "mf", "ctr"] = setting(
        "blend", "ranking without an experiment: blend, covisit, trending, or mf / ctr (River "
        "model alone over the blend's candidates)")
    content_weight: float = setting(0.3, "weight of content similarity (text embeddings) in the "
                                    "blend; 0 = off", 0.0, 100.0)
    exclude_seen: bool = setting(True, "never recommend items the user already interacted with "
                                 "(bought items never are; see RESHOW_REPEAT_RATE)")
    reshow_repeat_rate: float = setting(0.1, "re-show viewed (not bought) items once this "
                                        "share of the stream's views, after 1,000, are of "
                                        "items their user viewed before; 0 = never",
                                        0.0, 1.0)
    scorer: bool = setting(False, "ask the transformer scoring worker (streamrec scorer)")
    score_deadline_ms: int = setting(100, "wait at most this long for transformer scores, then "
                                     "rank without them (and say so)", 1, 60000)
    score_candidates: int = setting(50, "candidates per user sent to the scorer", 1, 10000)
    transformer_weight: float = setting(0.5, "weight of the transformer score when blending",
                                        0.0, 1.0)
    explain: bool = setting(True, "store why each item is in a list (co-visited with, "
                            "trending, price drop, models), served with ?explain=1")
    learned_ranker: bool = setting(True, "order the blend's candidates with an online "
                                   "learning-to-rank model (models/ltr.py) trained on what "
                                   "users view next; the blend order until it has warmed up")
    ranker_candidates: int = setting(100, "blend candidates per user the learned ranker orders",
                                     1, 10000)
    ranker_warm_up: int = setting(1000, "viewed candidates the learned ranker learns from "
                                  "before it orders lists", 0, 10_000_000)
    river_weight: float = setting(0.3, "weight of the River models (MF + CTR) when a learner "
                                  "publishes snapshots; 0 = off", 0.0, 1.0)
    diversity_lambda: float = setting(0.8, "MMR trade-off: 1 = relevance only, lower = more "
                                      "diverse categories", 0.0, 1.0)
    price_drop_boost: float = setting(0.5, "boost items whose price dropped: score x (1 + boost "
                                      "x relative drop); 0 = off", 0.0, 100.0)
    min_price: float = setting(0.0, "never recommend items priced below this (e.g. a margin "
                               "floor); 0 = off", 0.0, 1e9)
    explore: bool = setting(False, "Thompson sampling among each user's candidates (prior from "
                            "the ranking score, clicks shared in Redis)")
    explore_prior_strength: float = setting(20.0, "how many impressions the ranking prior is "
                                            "worth when exploring", 0.01, 1e6)

    @field_validator("covisit_half_life_s")
    @classmethod
    def _half_life(cls, v: float) -> float:
        if 0 < v < 30 * 86400:
            raise ValueError(
                "use 0 (off) or at least 2592000 (30 days); shorter "
                "half-lives overflow the pair weights within a few years"
            )
        return v


class ServingSettings(_Group):
    """Serving: input checks, the API, secrets, logs, seeds, the scorer and the learner."""

    max_event_bytes: int = setting(16384, "larger event payloads go to the DLQ", 64, 10_000_000)
    dedup_window: int = setting(100_000, "event ids remembered per partition: an event whose "
                                "event_id is among its partition's last this many is a "
                                "duplicate and is dropped (redelivered offsets are dropped by "
                                "the watermarks whatever this is; 0 = no id check)", 0, 10_000_000)
    max_future_s: float = setting(86400.0, "events stamped more than this many seconds after "
                                  "the worker's clock go to the DLQ (a future time would stop "
                                  "trending for good); ts may be Unix seconds or milliseconds",
                                  0.0, 1e9)
    unknown_item_wait_ms: int = setting(2000, "how long an event for an item not yet in the "
                                        "catalog waits for it (a replay may overtake the "
                                        "catalog) before it goes to the DLQ", 0, 600000)
    # the scorer (streamrec scorer) and the learner (streamrec learner)
    api_host: str = setting("127.0.0.1", "interface the HTTP API binds")
    api_port: int = setting(8080, "port of the HTTP API (0 = a free port)", 0, 65535)
    api_cache: bool = setting(False, "the API keeps each list it read until Redis pushes "
                              "that it changed (client-side caching with CLIENT TRACKING, "
                              "RESP3: Redis 6+): far fewer Redis reads, but a request right "
                              "after a write may get the list from before it; off = every "
                              "request reads Redis")
    admin_token: Secret16 = setting(SecretStr(""), "bearer token of the API's admin endpoints "
                                    "(experiments); empty = admin endpoints answer 401")
    snapshot_key: Secret16 = setting(SecretStr(""), "secret key (16+ characters) that signs the "
                                     "learner's model snapshots (HMAC-SHA256); workers unpickle "
                                     "only snapshots signed with it. Required by the learner, "
                                     "and by workers with RIVER_WEIGHT > 0; the demo makes one "
                                     "per run")
    log_level: Literal["debug", "info", "warning", "error"] = setting(
        "warning", "log level")
    log_format: Literal["text", "json"] = setting(
        "text", "log lines as text, or one JSON object per line (fields: time, level, "
        "logger, message; a rejected event's topic, partition, offset and reason)")
    scorer_model_dir: str = setting("artifacts/seqrec", "scorer: the model folder from "
                                    "`streamrec train` (a newer model saved there is swapped "
                                    "in)")
    scorer_max_batch: int = setting(64, "scorer: requests per forward pass at most", 1, 4096)
    scorer_max_wait_ms: float = setting(5.0, "scorer: longest a request waits for its batch to "
                                        "fill", 0.0, 10000.0)
    scorer_queue_size: int = setting(1024, "scorer: requests queued at most (then the oldest "
                                     "are answered with an error)", 1, 1_000_000)
    scorer_device: str = setting("", "scorer: cuda or cpu; empty = cuda if present")
    scorer_embed_catalog: bool = setting(False, "scorer: embed catalog titles (MiniLM) and "
                                         "publish content neighbours to Redis")
    scorer_wait_for_model: bool = setting(False, "scorer: start before the model folder has "
                                          "a model, answer 'no model yet' (workers rank "
                                          "without it) and load the model once it is saved")
    text_encoder_dir: str = setting("", "the text encoder's folder (`streamrec train-encoder "
                                    "--out`), for the scorer's catalog embeddings and the "
                                    "API's search; empty = the pretrained all-MiniLM-L6-v2")
    search: bool = setting(False, "API: serve GET /search (loads the text encoder and a "
                           "vector index of the catalog that follows catalog.updates; needs "
                           "STREAMREC_BROKER)")
    search_index: Literal["flat", "hnsw"] = setting(
        "flat", "API: the search index, flat (exact, faiss) or hnsw (approximate, for large "
        "catalogs)")
    search_candidates: int = setting(100, "API: nearest items a query retrieves before stock "
                                     "and the user's profile cut them to k", 1, 10000)
    search_profile_weight: float = setting(0.3, "API: weight of the user's category affinity "
                                           "when re-ranking search hits (0 = off)", 0.0, 100.0)
    search_price_weight: float = setting(0.1, "API: weight of the user's price fit when "
                                         "re-ranking search hits (0 = off)", 0.0, 100.0)
    learner_snapshot_every: int = setting(5000, "learner: events per River snapshot",
                                          1, 1_000_000_000)
    learner_snapshot_seconds: float = setting(5.0, "learner: seconds between River snapshots at "
                                              "most", 0.1, 86400.0)
    seed: int = setting(7, "seed of every random choice (simulated prices, stock, ids)",
                        0, 2**32 - 1)


class EvaluationSettings(_Group):
    """Evaluation: how the live prequential figures are bucketed."""

    prequential_bucket_s: float = setting(30 * 86400.0, "width in event-time seconds of the "
                                          "buckets of the prequential curve", 1.0, 1e12)
    judge_repeats: bool = setting(False, "judge events on items their user interacted with "
                                  "before too (off: only items new to the user are judged)")


class DemoSettings(_Group):
    """The demo and replays: the dataset, the replay's rate and users, the scenario."""

    data_dir: str = setting("", "folder of movielens-small; empty = "
                            "../shared/data/movielens-small searched upward from the working "
                            "directory")
    replay_rate: float = setting(2000.0, "events/s the replay produces (0 = as fast as "
                                 "possible)", 0.0, 1e7)
    replay_users: int = setting(100, "replay only the first N users of the dataset (0 = all)",
                                0, 10_000_000)
    scenario: bool = setting(True, "demo: simulate sell-outs, restocks and price changes "
                             "(seeded)")
    demo_experiment: str = setting("blend-vs-covisit", "demo: run a bandit-allocated A/B "
                                   "experiment of this name, blend against covisit, shown on "
                                   "the dashboard (empty = none)")
    replay_loop: bool = setting(True, "demo: after the dataset, replay it again as live "
                                "traffic (event time now, new event ids) until stopped")
    demo_transformer: bool = setting(True, "demo: train a small transformer in the "
                                     "background and serve it through a scoring worker "
                                     "(lists switch from heuristic to transformer)")
    demo_train_epochs: int = setting(6, "demo: epochs of the background training", 1, 1000)


GROUPS: dict[str, type[_Group]] = {
    "kafka": KafkaSettings,
    "redis": RedisSettings,
    "ranking": RankingSettings,
    "serving": ServingSettings,
    "evaluation": EvaluationSettings,
    "demo": DemoSettings,
}
