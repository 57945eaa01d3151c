"""Decode and validate raw event bytes. Pure functions: no I/O, no Faust.

A payload that fails any rule becomes a :class:`Rejection` carrying the reason; the
worker sends it to ``events.dlq`` with the original bytes and its topic/partition/offset.

>>> ev = parse_interaction(b'{"event_id":"e1","user_id":7,"item_id":"42","ts":1.5}', "view")
>>> ev.kind, ev.user_id, ev.item_id, ev.ts
('view', '7', '42', 1.5)
>>> parse_interaction(b'{"event_id":"e1","user_id":7,"item_id":"42","ts":1.5,"price":-2}', "view")
Rejection(reason='negative price: -2')
>>> parse_interaction(b'{not json', "view").reason[:14]
'malformed JSON'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from streamrec.models.events import EVENT_KINDS, CatalogChange, Interaction

MAX_ID_LEN = 256
MAX_PRICE = 1e9            # per unit; price x quantity stays far from float limits
MAX_QUANTITY = 1_000_000
MS_FROM = 1e11             # a ts at or above this is in milliseconds (1e11 s is year 5138)


@dataclass(slots=True, frozen=True)
class Rejection:
    reason: str


def _load(raw: bytes | None, max_bytes: int) -> dict[str, Any] | Rejection:
    if raw is None:
        return Rejection("empty payload")
    if len(raw) > max_bytes:
        return Rejection(f"oversized payload: {len(raw)} bytes > {max_bytes}")
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return Rejection(f"malformed JSON: {e}")
    if not isinstance(d, dict):
        return Rejection(f"expected a JSON object, got {type(d).__name__}")
    return d


def _id(d: dict[str, Any], name: str, required: bool = True) -> str | None | Rejection:
    v = d.get(name)
    if v is None:
        return Rejection(f"missing field '{name}'") if required else None
    if isinstance(v, bool) or not isinstance(v, str | int):
        return Rejection(f"field '{name}' must be a string or integer, got {type(v).__name__}")
    s = str(v)
    if not s or len(s) > MAX_ID_LEN:
        return Rejection(f"field '{name}' must have 1..{MAX_ID_LEN} characters")
    return s


def _num(d: dict[str, Any], name: str, required: bool) -> float | None | Rejection:
    v = d.get(name)
    if v is None:
        return Rejection(f"missing field '{name}'") if required else None
    if isinstance(v, bool) or not isinstance(v, int | float):
        return Rejection(f"field '{name}' must be a number, got {type(v).__name__}")
    if v != v or v in (float("inf"), float("-inf")):
        return Rejection(f"field '{name}' must be finite")
    return float(v)


def event_time(ts: float, now: float, max_future_s: float) -> float | Rejection:
    """``ts`` in Unix seconds (a millisecond timestamp is converted), or a Rejection when
    it lies more than ``max_future_s`` after ``now`` (a future time would move the
    trending clock for good).

    >>> event_time(1.7e9, now=1.8e9, max_future_s=60)
    1700000000.0
    >>> event_time(1.7e12, now=1.8e9, max_future_s=60)
    1700000000.0
    >>> event_time(4e9, now=1.8e9, max_future_s=60).reason.split(" (")[0]
    'timestamp 4e+09 is 2.2e+09 s ahead of now'
    """
    if ts < 0:
        return Rejection(f"negative timestamp: {ts:g}")
    secs = ts / 1000.0 if ts >= MS_FROM else ts
    if secs > now + max_future_s:
        return Rejection(f"timestamp {ts:g} is {secs - now:.2g} s ahead of now (at most "
                         f"{max_future_s:g}: STREAMREC_MAX_FUTURE_S); Unix seconds or ms")
    return secs


def parse_interaction(raw: bytes | None, kind: str | None, max_bytes: int = 16384, *,
                      now: float | None = None, max_future_s: float = 86400.0
                      ) -> Interaction | Rejection:
    """Validate one event read from the ``events.<kind>`` topic, or (``kind`` None) from
    the mixed ``events`` topic, where the ``type`` field is required. ``ts`` may be in
    seconds or milliseconds, at most ``max_future_s`` after ``now`` (default: the clock)."""
    d = _load(raw, max_bytes)
    if isinstance(d, Rejection):
        return d
    if kind is None and "type" not in d:
        return Rejection("missing field 'type' (required on the mixed 'events' topic: "
                         f"{', '.join(EVENT_KINDS)})")
    declared = d.get("type", kind)
    if declared not in EVENT_KINDS:
        return Rejection(f"unknown event type {declared!r}; allowed: {', '.join(EVENT_KINDS)}")
    if kind is not None and declared != kind:
        return Rejection(f"event type {declared!r} sent to the {kind!r} topic")
    event_id, user_id, item_id = _id(d, "event_id"), _id(d, "user_id"), _id(d, "item_id")
    session_id, rec_id = _id(d, "session_id", False), _id(d, "rec_id", False)
    ts, price = _num(d, "ts", True), _num(d, "price", False)
    for v in (event_id, user_id, item_id, session_id, rec_id, ts, price):
        if isinstance(v, Rejection):
            return v
    if isinstance(price, float) and (bad := _price_error(price, d["price"])):
        return bad
    secs = event_time(ts, time.time() if now is None else now, max_future_s)  # type: ignore
    if isinstance(secs, Rejection):
        return secs
    quantity = d.get("quantity", 1)
    if (isinstance(quantity, bool) or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_QUANTITY):
        return Rejection(f"field 'quantity' must be an integer 1..{MAX_QUANTITY}, "
                         f"got {quantity!r}")
    return Interaction(event_id, declared, user_id, item_id, secs, session_id,  # type: ignore
                       rec_id, price, quantity)  # type: ignore[arg-type]


def _price_error(price: float, raw: Any) -> Rejection | None:
    if price < 0:
        return Rejection(f"negative price: {raw}")
    if price > MAX_PRICE:
        return Rejection(f"price {raw} above {MAX_PRICE:g}")
    return None


def parse_catalog(raw: bytes | None, max_bytes: int = 16384) -> CatalogChange | Rejection:
    """Validate one ``catalog.updates`` message.

    >>> parse_catalog(b'{"item_id":"9","stock":0,"price":3.5}')
    CatalogChange(item_id='9', stock=0, price=3.5, category=None, title=None)
    >>> parse_catalog(b'{"item_id":"9","stock":-1}')
    Rejection(reason="field 'stock' must be an integer >= 0, got -1")
    """
    d = _load(raw, max_bytes)
    if isinstance(d, Rejection):
        return d
    item_id = _id(d, "item_id")
    if isinstance(item_id, Rejection):
        return item_id
    stock = d.get("stock")
    if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or stock < 0):
        return Rejection(f"field 'stock' must be an integer >= 0, got {stock!r}")
    price = _num(d, "price", False)
    if isinstance(price, Rejection):
        return price
    if isinstance(price, float) and (bad := _price_error(price, d["price"])):
        return bad
    for name in ("category", "title"):
        if d.get(name) is not None and not isinstance(d[name], str):
            return Rejection(f"field '{name}' must be a string, got {type(d[name]).__name__}")
    return CatalogChange(item_id, stock, price, d.get("category"), d.get("title"))  # type: ignore
