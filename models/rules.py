"""Business rules on live prices, configured rather than hard-coded.

>>> info = {"a": {"price": 8.0, "prev_price": 10.0}, "b": {"price": 2.0}, "c": {"price": 9.0}}
>>> apply_price_rules([("c", 1.0), ("a", 0.9), ("b", 0.8)], info, drop_boost=1.0,
...                   min_price=3.0)
[('a', 1.08), ('c', 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def apply_price_rules(ranked: Sequence[tuple[str, float]], info: Mapping[str, Mapping[str, Any]],
                      *, drop_boost: float = 0.0, min_price: float = 0.0
                      ) -> list[tuple[str, float]]:
    """Boost items whose price just dropped (score x (1 + drop_boost x relative drop)) and
    drop items priced under ``min_price`` (e.g. a margin floor); re-sorted."""
    out = []
    for item, score in ranked:
        d = info.get(item) or {}
        price, prev = d.get("price"), d.get("prev_price")
        if min_price > 0 and price is not None and price < min_price:
            continue
        if drop_boost > 0 and price is not None and prev and price < prev:
            score = round(score * (1 + drop_boost * (prev - price) / prev), 6)
        out.append((item, score))
    return sorted(out, key=lambda x: (-x[1], x[0]))
