import orjson
import pytest

from streamrec.models.events import Interaction
from streamrec.streams.validate import Rejection, parse_catalog, parse_interaction

GOOD = {"event_id": "e1", "user_id": "u1", "item_id": "i1", "ts": 10.0}


def raw(**changes):
    d = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in d.items() if v is not ...})


def test_valid_event_with_optionals():
    ev = parse_interaction(raw(price=3.5, quantity=2, rec_id="imp", session_id="s"), "purchase")
    assert ev == Interaction("e1", "purchase", "u1", "i1", 10.0, "s", "imp", 3.5, 2)


def test_integer_ids_become_strings():
    ev = parse_interaction(raw(user_id=5, item_id=9), "view")
    assert (ev.user_id, ev.item_id) == ("5", "9")


@pytest.mark.parametrize("payload, kind, reason", [
    (b"{not json", "view", "malformed JSON"),
    (b"[1, 2]", "view", "expected a JSON object"),
    (None, "view", "empty payload"),
    (raw(event_id=...), "view", "missing field 'event_id'"),
    (raw(user_id=...), "view", "missing field 'user_id'"),
    (raw(ts=...), "click", "missing field 'ts'"),
    (raw(ts="yesterday"), "view", "field 'ts' must be a number"),
    (raw(item_id=[1]), "view", "field 'item_id' must be a string or integer"),
    (raw(user_id=True), "view", "field 'user_id' must be a string or integer"),
    (raw(price=-1), "purchase", "field 'price' must be a number >= 0.0 (got -1)"),
    (raw(quantity=0), "purchase", "field 'quantity' must be an integer >= 1 (got 0)"),
    (raw(type="wishlist"), "view",
     "field 'type': unknown value 'wishlist'; allowed: view, click, purchase"),
    (raw(type="click"), "view", "event type 'click' sent to the 'view' topic"),
    (raw(ts=-5), "view", "field 'ts' must be a number >= 0.0 (got -5)"),
])
def test_rejections_say_why(payload, kind, reason):
    r = parse_interaction(payload, kind)
    assert isinstance(r, Rejection)
    assert reason in r.reason


def test_oversized_payload_is_rejected_before_decoding():
    big = raw(session_id="x" * 200)
    r = parse_interaction(big, "view", max_bytes=100)
    assert isinstance(r, Rejection) and r.reason.startswith("oversized payload")
    assert not isinstance(parse_interaction(big, "view", max_bytes=10_000), Rejection)


@pytest.mark.parametrize("payload, reason", [
    (b'{"stock": 3}', "missing field 'item_id'"),
    (b'{"item_id": "1", "stock": -1}', "field 'stock' must be an integer >= 0 (got -1)"),
    (b'{"item_id": "1", "stock": 1.5}', "field 'stock' must be an integer, got float"),
    (b'{"item_id": "1", "price": -3}', "field 'price' must be a number >= 0.0"),
    (b'{"item_id": "1", "title": 5}', "field 'title' must be a string"),
])
def test_catalog_rejections(payload, reason):
    r = parse_catalog(payload)
    assert isinstance(r, Rejection) and reason in r.reason


def test_mixed_topic_takes_the_kind_from_type_and_requires_it():
    raw = orjson.dumps({"event_id": "e", "user_id": "u", "item_id": "i", "ts": 1.0,
                        "type": "purchase"})
    ev = parse_interaction(raw, None)
    assert isinstance(ev, Interaction) and ev.kind == "purchase"
    missing = parse_interaction(orjson.dumps({"event_id": "e", "user_id": "u", "item_id": "i",
                                              "ts": 1.0}), None)
    assert isinstance(missing, Rejection) and "missing field 'type'" in missing.reason
    # a typed topic still refuses another kind
    assert isinstance(parse_interaction(raw, "view"), Rejection)


NOW = 1.8e9


@pytest.mark.parametrize(("fields", "reason"), [
    ({"ts": 4e9}, "ahead of now"),                    # far future: would move trending's clock
    ({"ts": 1e11 * 1000 * 1000}, "ahead of now"),     # microseconds are not guessed
    ({"price": 1e308, "quantity": 10}, "field 'price' must be a number <= 1000000000.0"),
    ({"price": 5.0, "quantity": 10**7}, "field 'quantity' must be an integer <= 1000000"),
])
def test_values_outside_sane_ranges_are_rejected(fields, reason):
    r = parse_interaction(raw(**fields), "purchase", now=NOW, max_future_s=86400)
    assert isinstance(r, Rejection)
    assert reason in r.reason


def test_millisecond_timestamps_are_converted_to_seconds():
    ev = parse_interaction(raw(ts=1.7e12), "view", now=NOW)
    assert not isinstance(ev, Rejection)
    assert ev.ts == 1.7e9
    ev = parse_interaction(raw(ts=1e11), "view", now=NOW)   # crashed covisit.time_weight
    assert ev.ts == 1e8


def test_catalog_price_bounds():
    assert "<= 1000000000.0" in parse_catalog(b'{"item_id":"9","price":1e308}').reason
    assert "out of range" in parse_catalog(b'{"item_id":"9","price":1e400}').reason
