"""Repeat views: re-shown where the stream's users come back, never what was bought, and
judged under JUDGE_REPEATS (the real Processor over the in-memory store: no server)."""

from __future__ import annotations

import orjson

from streamrec.models.events import CatalogChange
from streamrec.state.memory_store import MemoryStore
from streamrec.state.users import MemoryUsers
from streamrec.streams.messages import Message
from streamrec.streams.settings import Settings
from streamrec.streams.worker.processor import Processor

ITEMS = [str(i) for i in range(12)]


def event(n: int, user: str, item: str, kind: str = "view") -> Message:
    body = {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": 100.0 + n}
    return Message(f"events.{kind}", 0, n, user.encode(), orjson.dumps(body), 100.0 + n)


def stream(returning: bool) -> list[Message]:
    """Ten users each walk the same three items (0, 1, 2), then, when ``returning``, go
    back over them; a last user buys item 3 after viewing it and items 0-2."""
    out, n = [], 0
    for rnd in range(3 if returning else 1):
        for u in range(10):
            for item in ITEMS[:3] if rnd % 2 == 0 else ITEMS[3:6]:
                out.append(event(n, f"u{u}", item)); n += 1   # noqa: E702
    for item in ITEMS[:4]:
        out.append(event(n, "buyer", item)); n += 1            # noqa: E702
    out.append(event(n, "buyer", "3", "purchase"))
    return out


async def run(returning: bool, **settings) -> tuple[MemoryStore, Processor]:
    store = MemoryStore()
    proc = Processor(Settings.from_env({}, k=10, **settings), store, MemoryUsers(),
                     lambda *a: _none())
    proc.lists.revisits.min_views = 20
    await store.apply_catalog([CatalogChange(i, stock=5) for i in ITEMS])
    for msg in stream(returning):
        await proc.process_events([msg])
    return store, proc


async def _none() -> None:
    return None


def listed(store: MemoryStore, user: str) -> list[str]:
    return [i["item_id"] for i in orjson.loads(store._get(f"rec:{user}"))["items"]]


async def test_viewed_items_come_back_only_where_users_come_back_and_never_once_bought():
    once, p1 = await run(returning=False)
    assert p1.lists.revisits.repeats == 0
    assert set(listed(once, "buyer")).isdisjoint(ITEMS[:4])           # all seen: excluded
    again, p2 = await run(returning=True)
    assert p2.lists.revisits.rate > 0.3 and p2.lists.revisits.views >= 20
    shown = listed(again, "buyer")
    assert set(ITEMS[:3]) & set(shown) and "3" not in shown          # viewed back; not bought
    never, _ = await run(returning=True, reshow_repeat_rate=0.0)
    assert set(listed(never, "buyer")).isdisjoint(ITEMS[:4])


async def test_repeat_events_are_judged_only_under_judge_repeats():
    new_only, _ = await run(returning=True)
    everything, _ = await run(returning=True, judge_repeats=True)
    judged = [(await s.read_metrics())[0]["preq_judged"] for s in (new_only, everything)]
    # the 20 views of the third round (items 0-2 again) and the purchase are repeats
    assert judged[1] - judged[0] == 10 * 3 + 1, judged
