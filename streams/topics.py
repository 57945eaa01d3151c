"""Create streamrec's topics on a broker (idempotent)."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamrec.streams.kafka_security import client_kwargs
from streamrec.streams.records import ALL_TOPICS, TOPIC_CATALOG, TOPIC_FORGET
from streamrec.streams.settings import Settings

# the catalog topic keeps each item's latest change for good: a catalog lost from Redis
# is rebuilt from it (streams/worker/catalog_rebuild.py)
TOPIC_CONFIGS = {TOPIC_CATALOG: {"cleanup.policy": "compact"},
                 TOPIC_FORGET: {"cleanup.policy": "compact"}}


async def ensure_topics(settings: Settings, names: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet; returns the full topic names."""
    full = [settings.topic(n) for n in names]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.broker, **client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(settings.topic(n), settings.kafka.partitions, 1,
                        topic_configs=TOPIC_CONFIGS.get(n, {}))
               for n in names if settings.topic(n) not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        for _ in range(100):  # wait until metadata shows them
            if set(full) <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    return full
