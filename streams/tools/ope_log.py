"""The ``impressions`` topic as an off-policy evaluation log (``streamrec ope``).

The worker writes there every list it made by exploration or for a running experiment
(``schemas.Impression``: each shown item's propensity at its position, the candidates
offered, the variant and its propensity) and every click or purchase on a logged list
(``schemas.ImpressionReward``), joined here by impression id. A reward seen twice (the
worker restarted) counts once.

Two views of the same log (docs/ope.md):

* ``items``: a slate log, one round per shown position; reward 1 if the item was
  clicked (or bought). Evaluate other exploration policies over the same candidates.
* ``variants``: one round per list of a running experiment; the action is the variant,
  the reward 1 if anything in the list was clicked. Evaluate another allocation.

>>> from streamrec.streams import schemas
>>> shown = schemas.Impression("i1", "u", 1.0, "blend", [schemas.ShownItem("a", 0, 0.6),
...     schemas.ShownItem("b", 1, 0.3)], ["a", "b", "c"])
>>> click = schemas.ImpressionReward("i1", "b", "e9", "click", 2.0)
>>> [(r.action, r.reward, r.position) for r in rounds([schemas.encode(shown),
...                                                     schemas.encode(click)] * 2)]
[('a', 0.0, 0), ('b', 1.0, 1)]
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from streamrec.models.ope import Round
from streamrec.streams import schemas
from streamrec.streams.settings import Settings


def join(records: Iterable[bytes]) -> tuple[dict[str, schemas.Impression],
                                            dict[str, list[schemas.ImpressionReward]]]:
    """The log's lists by impression id, and each one's rewards, a repeated event once."""
    shown: dict[str, schemas.Impression] = {}
    rewards: dict[str, list[schemas.ImpressionReward]] = {}
    seen: set[tuple[str, str]] = set()
    for raw in records:
        rec = schemas.decode_impression(raw)
        if isinstance(rec, schemas.Impression):
            shown.setdefault(rec.impression_id, rec)
        elif (rec.impression_id, rec.event_id) not in seen:
            seen.add((rec.impression_id, rec.event_id))
            rewards.setdefault(rec.impression_id, []).append(rec)
    return shown, rewards


def rounds(records: Iterable[bytes], unit: str = "items") -> list[Round]:
    """Rounds of the log from raw ``impressions`` records (``unit``: items or variants)."""
    shown, rewards = join(records)
    out: list[Round] = []
    for imp_id, imp in shown.items():
        hits = {r.item_id for r in rewards.get(imp_id, ())}
        if unit == "variants":
            if imp.variant is not None and imp.variant_propensity is not None:
                out.append(Round(None, imp.variant, float(bool(hits)),
                                 imp.variant_propensity, tuple(imp.variants or ())))
        elif unit == "items":
            out += [Round(None, it.item_id, float(it.item_id in hits), it.propensity,
                          tuple(imp.offered), it.position, imp_id) for it in imp.items]
        else:
            raise ValueError(f"unit must be items or variants, got {unit!r}")
    return out


async def _read_topic(settings: Settings, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streamrec.streams.kafka_security import client_kwargs

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.broker, group_id=None,
                                enable_auto_commit=False, **client_kwargs(settings))
    await consumer.start()
    try:
        await consumer.topics()                 # fetches the cluster's metadata
        parts = [TopicPartition(topic, p)
                 for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            raise ValueError(f"topic {topic!r} does not exist on {settings.kafka.broker}")
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        out: list[bytes] = []
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out += [m.value for m in msgs if m.value is not None]
        return out
    finally:
        await consumer.stop()


def read_topic(address: str) -> list[bytes]:
    """Every record of ``kafka://HOST:PORT/TOPIC`` up to its end now (security settings
    from the ``STREAMREC_KAFKA_*`` env vars)."""
    hostport, _, topic = address.removeprefix("kafka://").partition("/")
    if not hostport or not topic:
        raise ValueError(f"{address!r}: expected kafka://HOST:PORT/TOPIC")
    settings = Settings.from_env(broker=hostport)
    return asyncio.run(_read_topic(settings, topic))
