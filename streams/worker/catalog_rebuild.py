"""Rebuild the catalog in Redis from the compacted ``catalog.updates`` topic.

The topic keeps each item's latest change (``cleanup.policy=compact``), so reading it from
the beginning to its current end restores stock, prices and metadata after Redis lost
them (a restart without persistence, a flush). The worker does it on start when Redis
has no catalog; events for items not yet restored wait for them
(``STREAMREC_UNKNOWN_ITEM_WAIT_MS``) instead of going to the DLQ.

Redis "has" the catalog when the marker ``catalog:built`` is there: written after a
rebuild, so a Redis that lost its data has lost the marker too (the catalog agent may
have applied a few new changes already, which the rebuild replays in order). A change
that arrives while the rebuild runs can be applied before an older one of the same item
is replayed: a known window of about a second, closed by the item's next change.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamrec.models.events import CatalogChange
from streamrec.state.redis_store import RedisStore
from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.records import TOPIC_CATALOG
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, parse_catalog

CATALOG_BUILT = "catalog:built"


async def assign_topic(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a started consumer without a group."""
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    if tps:
        consumer.assign(tps)
    return tps


async def rebuild_catalog(settings: Settings, store: RedisStore) -> int:
    """Apply every valid message of ``catalog.updates`` up to its current end, in order;
    returns how many were applied."""
    s = settings
    topic = s.topic(TOPIC_CATALOG)
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka.broker, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **client_kwargs(s))
    await consumer.start()
    n = 0
    try:
        tps = await assign_topic(consumer, topic)
        if not tps:
            return 0
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if end[tp] > 0}
        while todo:
            got = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
            changes: list[CatalogChange] = []
            for recs in got.values():
                for r in recs:
                    c = parse_catalog(r.value, s.serving.max_event_bytes)
                    if not isinstance(c, Rejection):
                        changes.append(c)
            await store.apply_catalog(changes)
            n += len(changes)
            todo = {tp for tp in todo if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()
    await store.mark_catalog_built(n)
    return n
