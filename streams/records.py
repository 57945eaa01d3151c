"""Typed records of every topic: the wire contract (JSON, encoded with orjson).

Producers may build these records (``ViewEvent(...).asdict()``) or plain dicts with the
same fields. The worker reads the event topics as raw bytes so that a payload that is
not a valid record still reaches ``events.dlq`` unchanged, with the reason.
"""

from __future__ import annotations

import faust

TOPIC_VIEW = "events.view"
TOPIC_CLICK = "events.click"
TOPIC_PURCHASE = "events.purchase"
# one topic for every kind (``type`` field required): keeps each user's events in order
# across kinds (a view and the purchase after it), which three topics cannot promise
TOPIC_EVENTS = "events"
TOPIC_CATALOG = "catalog.updates"
TOPIC_RECS = "recommendations"
TOPIC_DLQ = "events.dlq"
EVENT_TOPICS: dict[str, str | None] = {TOPIC_VIEW: "view", TOPIC_CLICK: "click",
                                       TOPIC_PURCHASE: "purchase", TOPIC_EVENTS: None}
TOPIC_SCORE_REQUESTS = "score.requests"
TOPIC_SCORE_RESULTS = "score.results"
ALL_TOPICS = (TOPIC_VIEW, TOPIC_CLICK, TOPIC_PURCHASE, TOPIC_EVENTS, TOPIC_CATALOG, TOPIC_RECS,
              TOPIC_DLQ, TOPIC_SCORE_REQUESTS, TOPIC_SCORE_RESULTS)


class _Event(faust.Record, serializer="json", include_metadata=False):
    event_id: str
    user_id: str
    item_id: str
    ts: float                      # unix seconds
    session_id: str | None = None
    rec_id: str | None = None      # impression id of the recommendation acted on
    price: float | None = None
    quantity: int = 1


class ViewEvent(_Event, include_metadata=False):
    """A product page view (topic ``events.view``, key = user_id)."""


class ClickEvent(_Event, include_metadata=False):
    """A click on a product, e.g. in a recommendation list (``events.click``)."""


class PurchaseEvent(_Event, include_metadata=False):
    """A purchase (``events.purchase``)."""


class CatalogUpdate(faust.Record, serializer="json", include_metadata=False):
    """Stock/price/metadata of one item (``catalog.updates``, key = item_id)."""

    item_id: str
    stock: int | None = None
    price: float | None = None
    category: str | None = None
    title: str | None = None


class RecommendedItem(faust.Record, include_metadata=False):
    item_id: str
    score: float


class Recommendation(faust.Record, serializer="json", include_metadata=False):
    """A user's fresh top-K (``recommendations`` and Redis ``rec:{user_id}``)."""

    user_id: str
    items: list[RecommendedItem]
    impression_id: str
    policy: str
    model_version: str
    generated_at: float


class DeadLetter(faust.Record, serializer="json", include_metadata=False):
    """A rejected message (``events.dlq``): the reason and the original bytes."""

    reason: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None
    value_text: str | None
    rejected_at: float
