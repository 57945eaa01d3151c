"""Read the UCI Online Retail sample (``../shared/data/online-retail-sample``, CC BY 4.0)
as a shop's catalog and purchase stream (see shared/data/README.md).

Mapping used here:

- **catalog**: each product stock code (codes that start with a digit; POST, M, DOT,
  BANK CHARGES... are not products) with its description as the title and its last
  unit price as the price. The category is DERIVED: the description's last word (the
  kind of product: BAG, MUG, HOLDER...). Stock does not exist in the data and is
  SIMULATED, seeded.
- **events**: every line with a customer id, a positive quantity and an invoice that is
  not a cancellation is a ``purchase`` of the code by the customer at the invoice date
  (UK local time, read as UTC), with its price and quantity. The rows are shuffled in the
  file; events are sorted by time.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "OnlineRetail_sample.csv"


def beside(movielens_dir: Path) -> Path:
    """The sample's folder in the shared data, next to movielens-small's."""
    return movielens_dir.parent / "online-retail-sample"


def _rows(folder: Path) -> list[dict[str, str]]:
    path = folder / FILE
    if not path.exists():
        from streamrec.streams.exceptions import StreamrecError
        raise StreamrecError(f"{path} not found: the online-retail sample lives in "
                          "../shared/data/online-retail-sample")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["StockCode"][:1].isdigit()
                and r["Description"].strip()]
    rows.sort(key=lambda r: (r["InvoiceDate"], r["InvoiceNo"], r["StockCode"]))
    return rows


def category_of(description: str) -> str:
    """The derived category: the description's last word.

    >>> category_of("SET OF 3 HANGING OWLS OLLIE BEAK ")
    'BEAK'
    """
    return description.split()[-1]


def read_catalog(folder: Path, seed: int = 7) -> list[dict[str, Any]]:
    """One catalog update per product: real description and last price, derived
    category, SIMULATED stock."""
    last: dict[str, dict[str, str]] = {}
    for r in _rows(folder):
        last[r["StockCode"]] = r
    rng = random.Random(seed)
    return [{"item_id": code, "title": r["Description"].strip(),
             "category": category_of(r["Description"]), "price": float(r["UnitPrice"]),
             "stock": rng.randint(5, 200)} for code, r in sorted(last.items())]


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The purchases in time order, as ``events.purchase`` messages."""
    out = []
    for n, r in enumerate(_rows(folder)):
        if not r["CustomerID"] or r["InvoiceNo"].startswith("C") or int(r["Quantity"]) <= 0:
            continue
        ts = datetime.fromisoformat(r["InvoiceDate"]).replace(tzinfo=UTC).timestamp()
        out.append({"event_id": f"or-{r['InvoiceNo']}-{r['StockCode']}-{n}", "ts": ts,
                    "user_id": r["CustomerID"].removesuffix(".0"), "item_id": r["StockCode"],
                    "price": float(r["UnitPrice"]), "quantity": int(r["Quantity"])})
    return out
