"""A worker skips the events of a user forgotten while it runs (in memory: no server)."""

from __future__ import annotations

import orjson

from streamrec.models.events import CatalogChange
from streamrec.state.memory_store import MemoryStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.messages import Message
from streamrec.streams.settings import Settings
from streamrec.streams.worker.processor import Processor


def view(n: int, user: str, item: str) -> Message:
    body = {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": 100.0 + n}
    return Message("events.view", 0, n, user.encode(), orjson.dumps(body), 100.0 + n)


async def test_events_of_a_forgotten_user_are_counted_skipped_and_write_nothing():
    store, users, sent = MemoryStore(), MemoryUsers(), []

    async def send(topic, key, value):
        sent.append((topic, key))

    proc = Processor(Settings.from_env({}, k=5), store, users, send)
    await store.apply_catalog([CatalogChange(str(i), stock=5) for i in range(6)])
    await proc.process_events([view(n, ("ann", "bo")[n % 2], str(n % 6)) for n in range(6)])
    assert "ann" in users and store._get("rec:ann") is not None
    removed = await store.forget_user("ann", 1.0)
    assert removed == ["rec:ann"]          # (its state is in the worker's memory here)
    await proc.process_events([view(n, ("ann", "bo")[n % 2], str(n % 6)) for n in range(6, 12)])
    metrics, _, _ = await store.read_metrics()
    assert (metrics["events_total"], metrics["forgotten_total"]) == (9, 3)
    assert "ann" not in users and store._get("rec:ann") is None
    assert store.hashes["wm"]["events.view:0"] == 12    # skipped, not to be retried
    assert [k for t, k in sent if t == "recommendations"].count(b"ann") == 1   # before only
    assert await store.consent_user("ann")
    await proc.process_events([view(12, "ann", "1")])
    assert store._get("rec:ann") is not None and "ann" in users
