"""Decode and validate raw event bytes against the wire contract (``streams/schemas.py``).
Pure functions: no I/O, no Faust.

The schema's typed decoder checks every field (types, id lengths, price and quantity
ranges); this module adds what a schema cannot say: the event type against its topic, and
a timestamp in seconds or milliseconds, not too far in the future. A payload that fails
becomes a :class:`Rejection` carrying the reason; the worker sends it to ``events.dlq``
with the original bytes and its topic/partition/offset.

>>> ev = parse_interaction(b'{"event_id":"e1","user_id":7,"item_id":"42","ts":1.5}', "view")
>>> ev.kind, ev.user_id, ev.item_id, ev.ts
('view', '7', '42', 1.5)
>>> parse_interaction(b'{"event_id":"e1","user_id":7,"item_id":"42","ts":1.5,"price":-2}', "view")
Rejection(reason="field 'price' must be a number >= 0.0 (got -2)", kind='invalid_field')
>>> parse_interaction(b'{not json', "view").reason[:14]
'malformed JSON'
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from streamrec.models.events import EVENT_KINDS, CatalogChange, Interaction
from streamrec.streams.schemas import CatalogUpdate, Event

MS_FROM = 1e11             # a ts at or above this is in milliseconds (1e11 s is year 5138)


REASONS = ("empty", "oversized", "malformed_json", "missing_field", "invalid_field",
           "timestamp", "wrong_topic", "unknown_topic", "unknown_item", "apply_error",
           "bad_request")        # the last: a score request the scorer refused


@dataclass(slots=True, frozen=True)
class Rejection:
    """Why a message was refused: ``reason`` in words, ``kind`` one of :data:`REASONS`
    (the label the DLQ counts are kept by: ``streamrec_dlq_reason_total``)."""

    reason: str
    kind: str = "invalid_field"


_EVENT = msgspec.json.Decoder(Event)
_CATALOG = msgspec.json.Decoder(CatalogUpdate)
_KINDS = {"float": "a number", "int": "an integer", "str": "a string",
          "int | str": "a string or integer", "object": "a JSON object", "array": "a list"}
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$\.(?P<field>\w+)`)?$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`(?:, got `(?P<got>[^`]+)`)?(?P<rest>.*)$")


def _reason(err: msgspec.DecodeError, d: Any) -> str:
    """msgspec's message in the DLQ's words: which field, what it must be."""
    m = _AT.match(str(err))
    what, field = m["what"], m["field"]          # type: ignore[index]
    if what.startswith("Object missing required field"):
        return f"missing field '{what.split('`')[1]}'"
    if what.startswith("Invalid enum value"):
        return (f"field '{field}': unknown value {what.split(' ', 3)[3]}; allowed: "
                f"{', '.join(EVENT_KINDS)}")
    e = _EXPECTED.match(what)
    if e is None:
        return f"field '{field}': {what}" if field else what
    want = e["want"].replace(" | null", "")
    if field is None:
        return f"expected {_KINDS.get(want, want)}, got {e['got']}"
    if e["got"]:
        return f"field '{field}' must be {_KINDS.get(want, want)}, got {e['got']}"
    value = repr(d.get(field))[:40] if isinstance(d, dict) else "?"
    return f"field '{field}' must be {_KINDS.get(want, want)}{e['rest']} (got {value})"


def decode(raw: bytes | None, max_bytes: int, decoder: msgspec.json.Decoder) -> Any:
    """``raw`` decoded by ``decoder`` (a schema's), or a Rejection that says why."""
    if raw is None:
        return Rejection("empty payload", "empty")
    if len(raw) > max_bytes:
        return Rejection(f"oversized payload: {len(raw)} bytes > {max_bytes}", "oversized")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as e:
        try:
            d = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            d = None
        reason = _reason(e, d)
        return Rejection(reason, "missing_field" if reason.startswith("missing field")
                         else "invalid_field")
    except msgspec.DecodeError as e:
        return Rejection(f"malformed JSON: {e}", "malformed_json")


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
    secs = ts / 1000.0 if ts >= MS_FROM else float(ts)
    if secs > now + max_future_s:
        return Rejection(f"timestamp {ts:g} is {secs - now:.2g} s ahead of now (at most "
                         f"{max_future_s:g}: STREAMREC_MAX_FUTURE_S); Unix seconds or ms",
                         "timestamp")
    return secs


def _str(v: str | int | None) -> str | None:
    return v if v is None or isinstance(v, str) else str(v)


def parse_interaction(raw: bytes | None, kind: str | None, max_bytes: int = 16384, *,
                      now: float | None = None, max_future_s: float = 86400.0
                      ) -> Interaction | Rejection:
    """Validate one event read from the ``events.<kind>`` topic, or (``kind`` None) from
    the mixed ``events`` topic, where the ``type`` field is required. ``ts`` may be in
    seconds or milliseconds, at most ``max_future_s`` after ``now`` (default: the clock)."""
    ev = decode(raw, max_bytes, _EVENT)
    if isinstance(ev, Rejection):
        return ev
    if ev.type is None and kind is None:
        return Rejection("missing field 'type' (required on the mixed 'events' topic: "
                         f"{', '.join(EVENT_KINDS)})", "missing_field")
    declared = ev.type or kind
    if kind is not None and declared != kind:
        return Rejection(f"event type {declared!r} sent to the {kind!r} topic", "wrong_topic")
    secs = event_time(ev.ts, time.time() if now is None else now, max_future_s)
    if isinstance(secs, Rejection):
        return secs
    return Interaction(_str(ev.event_id), declared, _str(ev.user_id),  # type: ignore[arg-type]
                       _str(ev.item_id), secs, _str(ev.session_id),  # type: ignore[arg-type]
                       _str(ev.rec_id), ev.price, ev.quantity)


def parse_catalog(raw: bytes | None, max_bytes: int = 16384) -> CatalogChange | Rejection:
    """Validate one ``catalog.updates`` message.

    >>> parse_catalog(b'{"item_id":"9","stock":0,"price":3.5}')
    CatalogChange(item_id='9', stock=0, price=3.5, category=None, title=None)
    >>> parse_catalog(b'{"item_id":"9","stock":-1}')
    Rejection(reason="field 'stock' must be an integer >= 0 (got -1)", kind='invalid_field')
    """
    c = decode(raw, max_bytes, _CATALOG)
    if isinstance(c, Rejection):
        return c
    return CatalogChange(_str(c.item_id), c.stock, c.price,  # type: ignore[arg-type]
                         c.category, c.title)
