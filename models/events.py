"""The validated, in-memory form of one interaction event (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass

EVENT_KINDS: tuple[str, ...] = ("view", "click", "purchase")


@dataclass(slots=True, frozen=True)
class Interaction:
    """A view, click or purchase of ``item_id`` by ``user_id`` at ``ts`` (unix seconds).

    Ids are strings (they are Kafka keys). ``rec_id`` is the impression id of the
    recommendation the user acted on, when there was one.
    """

    event_id: str
    kind: str
    user_id: str
    item_id: str
    ts: float
    session_id: str | None = None
    rec_id: str | None = None
    price: float | None = None
    quantity: int = 1


@dataclass(slots=True, frozen=True)
class CatalogChange:
    """A change of one item's stock, price, category or title (None = unchanged)."""

    item_id: str
    stock: int | None = None
    price: float | None = None
    category: str | None = None
    title: str | None = None
