"""How catalog changes merge into an item's stored record (both backends).

A change carries only what changed; ``None`` fields keep what is stored. A new price keeps
the old one as ``prev_price`` (the price-drop rule reads it).

>>> from streamrec.models.events import CatalogChange
>>> merge([CatalogChange("i1", None, 8.0, None, None)], {"i1": {"stock": 3, "price": 10.0}})
{'i1': {'stock': 3, 'price': 8.0, 'prev_price': 10.0}}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streamrec.models.events import CatalogChange

FIELDS = ("stock", "price", "category", "title")


def merge(changes: Iterable[CatalogChange], current: dict[str, dict[str, Any]]
          ) -> dict[str, dict[str, Any]]:
    """The new record of every item in ``changes``, from ``current`` (item -> record)."""
    merged: dict[str, dict[str, Any]] = {}
    for c in changes:
        d = merged.get(c.item_id) or dict(current.get(c.item_id) or {})
        for name in FIELDS:
            v = getattr(c, name)
            if v is not None:
                if name == "price" and d.get("price") is not None and d["price"] != v:
                    d["prev_price"] = d["price"]
                d[name] = v
        merged[c.item_id] = d
    return merged


def stock_moves(merged: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The items that are now sold out (stock 0), and those that are not."""
    out = [i for i, d in merged.items() if d.get("stock") == 0]
    back = [i for i, d in merged.items() if d.get("stock") != 0]
    return out, back
