"""`streamrec replay` awaits its deliveries: with the broker gone it fails loudly instead
of printing a count of events it never delivered."""

from __future__ import annotations

import asyncio

import pytest

from streamrec.streams.dev.embedded import TansuBroker
from streamrec.streams.settings import Settings
from streamrec.streams.tools.replay import DeliveryError, Producer, replay_events
from streamrec.streams.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.faults]


async def test_replay_raises_when_the_broker_does_not_acknowledge():
    with TansuBroker() as broker:
        s = Settings.from_env({}, broker=broker.bootstrap, topic_prefix="dlv.")
        await ensure_topics(s)
        async with Producer(s, request_timeout_ms=2000) as p:
            events = [("view", {"event_id": f"e{n}", "user_id": "u", "item_id": "1",
                                "ts": float(n)}) for n in range(20)]
            assert await replay_events(p, events, rate=0) == 20     # delivered: a count
            broker.stop()
            with pytest.raises(DeliveryError, match="not delivered"):
                async with asyncio.timeout(60):
                    await replay_events(p, events, rate=0)
