"""Consumer tuning Faust does not expose as a setting.

Faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500``. Kafka answers a
fetch as soon as data is there, but some Kafka-protocol brokers (Tansu, measured here)
hold every fetch for the whole wait, which adds ~0.4 s (p50) to every event. This sets
the wait from ``STREAMREC_FETCH_MAX_WAIT_MS`` instead.
"""

from __future__ import annotations

import functools

from faust.transport.drivers import aiokafka as faust_aiokafka


def set_fetch_max_wait(ms: int) -> None:
    cls = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(cls, "_streamrec_original_create", None) or cls._create_worker_consumer

    @functools.wraps(original)
    def create(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        consumer = original(self, *args, **kwargs)
        consumer._fetch_max_wait_ms = ms  # read when aiokafka builds its Fetcher in start()
        return consumer

    cls._streamrec_original_create = original  # type: ignore[attr-defined]
    cls._create_worker_consumer = create  # type: ignore[method-assign]
