"""The wire contract (``streams/schemas.py``) against what validates, what is served and
what the API documents."""

from __future__ import annotations

from importlib import resources

import msgspec
import pytest
import yaml

from streamrec.streams import schemas
from streamrec.streams.messages import Message, dead_letter
from streamrec.streams.validate import Rejection, parse_catalog, parse_interaction

FULL = schemas.Event(event_id="e1", user_id="u1", item_id="42", ts=1.7e9, type="purchase",
                     session_id="s1", rec_id="imp1", price=9.5, quantity=2)


def test_a_schema_event_validates_with_every_field_kept():
    ev = parse_interaction(schemas.encode(FULL), None, now=1.8e9)
    assert not isinstance(ev, Rejection)
    assert (ev.event_id, ev.kind, ev.user_id, ev.item_id, ev.ts, ev.session_id, ev.rec_id,
            ev.price, ev.quantity) == ("e1", "purchase", "u1", "42", 1.7e9, "s1", "imp1",
                                       9.5, 2)


@pytest.mark.parametrize("name", [f for f, d in zip(
    schemas.Event.__struct_fields__, (True,) * 4 + (False,) * 5, strict=True) if d])
def test_each_required_field_is_required_by_validation_too(name):
    d = msgspec.to_builtins(FULL)
    del d[name]
    got = parse_interaction(msgspec.json.encode(d), "purchase", now=1.8e9)
    assert isinstance(got, Rejection) and name in got.reason
    with pytest.raises(msgspec.ValidationError, match=name):
        msgspec.json.decode(msgspec.json.encode(d), type=schemas.Event)


def test_a_schema_catalog_update_validates():
    upd = schemas.CatalogUpdate(item_id="9", stock=0, price=3.5, category="toys", title="Kite")
    c = parse_catalog(schemas.encode(upd))
    assert (c.item_id, c.stock, c.price, c.category, c.title) == ("9", 0, 3.5, "toys", "Kite")


def test_the_dlq_record_is_its_schema():
    raw = dead_letter(Message("events", 2, 7, b"u", b"{bad", 0.0), "malformed JSON")
    d = schemas.decode_dead_letter(raw)
    assert (d.topic, d.partition, d.offset, d.value_text, d.truncated) == \
        ("events", 2, 7, "{bad", False)


def test_openapi_documents_the_stored_list_as_it_is():
    spec = yaml.safe_load(resources.files("streamrec.streams.api").joinpath("openapi.yaml")
                          .read_text())
    doc = spec["components"]["schemas"]["List"]
    ours = schemas.json_schema(schemas.StoredList)
    assert set(doc["properties"]) == set(ours["properties"])
    assert set(doc["required"]) <= set(ours["required"]) | {"cold_start"}
    assert set(doc["properties"]["items"]["items"]["properties"]) == \
        set(schemas.ListItem.__struct_fields__)


def test_every_topic_has_a_schema():
    from streamrec.streams.records import ALL_TOPICS
    assert set(ALL_TOPICS) - {"events.view", "events.click", "events.purchase"} == \
        set(schemas.TOPIC_SCHEMAS)
