"""Read movielens-small as a shop's event stream and catalog (see shared/data/README.md).

Default mapping (configurable with :class:`Mapping`): every rating is a ``view`` of the
movie at its timestamp; a rating >= 4.0 is also a ``click`` right after it; a rating of
5.0 is also a ``purchase``. Titles and genres are real; the first genre is the category.
Prices and stock do not exist in the data and are SIMULATED here, seeded.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# simulated price bands per category (documented as simulated; seeded)
PRICE_BANDS = {"Animation": (9.0, 19.0), "Children": (7.0, 15.0), "Documentary": (5.0, 12.0),
               "Drama": (8.0, 18.0), "Action": (12.0, 25.0), "Sci-Fi": (12.0, 25.0)}
DEFAULT_BAND = (6.0, 20.0)


@dataclass(frozen=True)
class Mapping:
    """How ratings become events."""

    click_threshold: float = 4.0
    purchase_threshold: float = 5.0


def read_ratings(data_dir: Path, users: int = 0) -> list[tuple[str, str, float, float]]:
    """(user_id, item_id, rating, ts) sorted by (ts, user, item); ``users`` > 0 keeps
    the ``users`` lowest user ids."""
    rows = []
    with open(data_dir / "ratings.csv", newline="") as f:
        for r in csv.DictReader(f):
            if users and int(r["userId"]) > users:
                continue
            rows.append((r["userId"], r["movieId"], float(r["rating"]), float(r["timestamp"])))
    rows.sort(key=lambda r: (r[3], int(r[0]), int(r[1])))
    return rows


def events_from_ratings(rows: list[tuple[str, str, float, float]], mapping: Mapping = Mapping()
                        ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, event dict) in time order; event ids are deterministic, so a replay of the
    same data deduplicates instead of counting twice."""
    for user, item, rating, ts in rows:
        base = {"user_id": user, "item_id": item}
        yield "view", {"event_id": f"ml-{user}-{item}-v", "ts": ts, **base}
        if rating >= mapping.click_threshold:
            yield "click", {"event_id": f"ml-{user}-{item}-c", "ts": ts + 1, **base}
        if rating >= mapping.purchase_threshold:
            yield "purchase", {"event_id": f"ml-{user}-{item}-p", "ts": ts + 2, "quantity": 1,
                               **base}


def read_catalog(data_dir: Path, seed: int = 7) -> list[dict[str, Any]]:
    """One catalog update per movie: real title and category, SIMULATED price and stock."""
    rng = random.Random(seed)
    out = []
    with open(data_dir / "movies.csv", newline="") as f:
        for r in csv.DictReader(f):
            category = r["genres"].split("|")[0]
            lo, hi = PRICE_BANDS.get(category, DEFAULT_BAND)
            out.append({"item_id": r["movieId"], "title": r["title"], "category": category,
                        "price": round(rng.uniform(lo, hi), 2), "stock": rng.randint(5, 200)})
    return out
