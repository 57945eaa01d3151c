"""The topics' names. Their messages' schemas are in ``streams/schemas.py``; the worker
reads the event topics as raw bytes, so that a payload that does not validate still
reaches ``events.dlq`` unchanged, with the reason."""

from __future__ import annotations

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
TOPIC_IMPRESSIONS = "impressions"   # explored and experiment lists with propensities; rewards
TOPIC_FORGET = "users.forget"       # tombstones of users forgotten (and consents), compacted
ALL_TOPICS = (TOPIC_VIEW, TOPIC_CLICK, TOPIC_PURCHASE, TOPIC_EVENTS, TOPIC_CATALOG, TOPIC_RECS,
              TOPIC_DLQ, TOPIC_SCORE_REQUESTS, TOPIC_SCORE_RESULTS, TOPIC_IMPRESSIONS,
              TOPIC_FORGET)
