"""Why each item of a list is there, from the ranking stages' own signals (pure, no I/O).

Each of the top K gets short reasons, strongest signal first, read from what ranked it:
the co-visitation rows of the user's newest items, content similarity, trending, a price
drop, the transformer's score and exploration. What ordered the whole list (the learned
ranker, River) is not repeated on each item: the list's ``model_version`` says it.
They are stored with the list (``rec:{user}``, ``why`` on each item) and served with
``GET /recommendations/{user}?explain=1``.

The search is bounded, so that explaining costs little per list: the rows of the newest
:data:`HEADS` items, the first :data:`ROW_SCAN` entries of each, and the first
:data:`TRENDING_SCAN` trending items.

>>> rows_covis = {"a": [("b", 41.0), ("c", 2.0)]}
>>> info = {"a": {"title": "Tent"}, "b": {"price": 8.0, "prev_price": 10.0}}
>>> explain(["b", "t"], ["a"], rows_covis, [("t", 9.0)], {}, info)
[['viewed with Tent (co-visits 41.0)', 'price dropped 20%'], ['trending #1']]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

HEADS = 3            # the user's newest items whose rows explain a candidate
ROW_SCAN = 50        # entries of each of their rows searched
TRENDING_SCAN = 50   # trending items searched
TITLE_CHARS = 40


def _label(item: str, info: Mapping[str, Mapping[str, Any]]) -> str:
    title = (info.get(item) or {}).get("title")
    return str(title)[:TITLE_CHARS] if title else f"item {item}"


def _first_rows(top: Collection[str], heads: Sequence[str],
                rows: Mapping[str, Sequence[tuple[str, float]]]
                ) -> dict[str, tuple[str, float]]:
    """For each item of ``top`` found, the newest head whose row holds it, and its score."""
    found: dict[str, tuple[str, float]] = {}
    for h in heads[:HEADS]:
        for cand, s in rows.get(h, ())[:ROW_SCAN]:
            if cand in top and cand not in found:
                found[cand] = (h, s)
    return found


def explain(top: Sequence[str], heads: Sequence[str],
            covis: Mapping[str, Sequence[tuple[str, float]]],
            trending: Sequence[tuple[str, float]],
            content: Mapping[str, Sequence[tuple[str, float]]],
            info: Mapping[str, Mapping[str, Any]], *,
            scored: Mapping[str, Any] | None = None,
            transformer: str | None = None, explored: Collection[str] = ()
            ) -> list[list[str]]:
    """Reasons for each item of ``top`` (the list's top K, best first). ``heads``: the
    user's recent items, newest first; ``scored``: the transformer's score by item
    (``None`` where it did not know one) and ``transformer`` its version; ``explored``:
    the items exploration chose."""
    want = set(top)
    viewed = _first_rows(want, heads, covis)
    similar = _first_rows(want, heads, content)
    rank = {c: n for n, (c, _) in enumerate(trending[:TRENDING_SCAN], 1) if c in want}
    out = []
    for item in top:
        why = []
        if item in viewed:
            h, s = viewed[item]
            why.append(f"viewed with {_label(h, info)} (co-visits {s:.1f})")
        if item in similar:
            h, s = similar[item]
            why.append(f"text similar to {_label(h, info)} ({s:.2f})")
        if item in rank:
            why.append(f"trending #{rank[item]}")
        d = info.get(item) or {}
        price, prev = d.get("price"), d.get("prev_price")
        if price is not None and prev and price < prev:
            why.append(f"price dropped {(prev - price) / prev:.0%}")
        if scored and transformer and scored.get(item) is not None:
            why.append(f"transformer {transformer}")
        if item in explored:
            why.append("explored (Thompson sampling)")
        out.append(why)
    return out
