"""Conversions between wire dicts and the pure model types."""

from __future__ import annotations

from typing import Any

from streamrec.models.events import CatalogChange


def catalog_changes(items: list[dict[str, Any]]) -> list[CatalogChange]:
    return [CatalogChange(d["item_id"], d.get("stock"), d.get("price"), d.get("category"),
                          d.get("title")) for d in items]
