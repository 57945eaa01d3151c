"""Event logs to evaluate on: movielens-small, RetailRocket, or any CSV / JSONL log.

Every reader returns an :class:`EventLog`: (kind, event) pairs in time order with unique,
deterministic event ids, a catalog (one update per item), and a sentence saying which
mapping was used (evaluations must say it).

Formats (``fmt``; ``auto`` picks by what ``path`` is):

* ``movielens``: a folder with ``ratings.csv`` (+ ``movies.csv``); the default mapping of
  :mod:`streamrec.streams.tools.dataset` (rating = view; >= 4 also click; 5 also purchase).
* ``retailrocket``: RetailRocket's ``events.csv``: ``timestamp`` (ms), ``visitorid``,
  ``event`` (view | addtocart | transaction), ``itemid``, ``transactionid``. Mapping:
  view = view, addtocart = click, transaction = purchase.
* ``online-retail``: the UCI Online Retail sample (``OnlineRetail_sample.csv``, or its
  folder): every line with a customer a purchase at its unit price; the catalog has the
  descriptions as titles, a category derived from them and simulated stock
  (:mod:`streamrec.streams.tools.retail`).
* ``csv``: a header with ``user_id,item_id,ts,type`` (ts in unix seconds; type view |
  click | purchase), optional ``event_id``, ``price``, ``quantity``.
* ``jsonl``: one JSON object per line with the same fields as ``csv``.

The catalog of a log without one is its distinct items (no category, price or stock).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streamrec.models.events import EVENT_KINDS
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings

FORMATS = ("auto", "movielens", "retailrocket", "online-retail", "csv", "jsonl")
RETAILROCKET_KINDS = {"view": "view", "addtocart": "click", "transaction": "purchase"}


class EventLogError(StreamrecError):
    """An event log that cannot be read; the message names the file, line and fix."""


@dataclass
class EventLog:
    name: str
    mapping: str
    events: list[tuple[str, dict[str, Any]]]
    catalog: list[dict[str, Any]] = field(default_factory=list)

    @property
    def users(self) -> int:
        return len({e["user_id"] for _, e in self.events})


def detect_format(path: Path) -> str:
    """``movielens`` for a folder, ``jsonl`` for .jsonl/.json, ``retailrocket`` for a CSV
    whose header has ``visitorid``, else ``csv``."""
    if path.is_dir():
        return "online-retail" if (path / "OnlineRetail_sample.csv").exists() else "movielens"
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    with open(path, newline="") as f:
        header = f.readline()
    if "InvoiceNo" in header and "StockCode" in header:
        return "online-retail"
    return "retailrocket" if "visitorid" in header else "csv"


def load_event_log(path: Path, fmt: str = "auto", users: int = 0, max_events: int = 0,
                   seed: int = 7) -> EventLog:
    """Read ``path`` as ``fmt``; keep the first ``users`` users (0 = all; movielens: the
    lowest ids, other logs: in order of first appearance) and the first ``max_events``."""
    if fmt not in FORMATS:
        raise EventLogError(f"--format {fmt!r}: must be one of {', '.join(FORMATS)}")
    if not path.exists():
        raise EventLogError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "movielens":
        rows = read_ratings(path, users)
        log = EventLog(
            f"movielens-small ({len(rows)} ratings, {'first ' + str(users) if users else 'all'}"
            " users)",
            "movielens default: every rating a view; rating >= 4 also a click (+1 s), 5 also a "
            "purchase (+2 s); prices and stock simulated (seeded)",
            list(events_from_ratings(rows)), read_catalog(path, seed))
    elif fmt == "online-retail":
        from streamrec.streams.tools import retail
        folder = path if path.is_dir() else path.parent
        log = EventLog("UCI Online Retail sample", "online-retail: every line with a customer "
                       "id, a positive quantity and no cancellation is a purchase at its unit "
                       "price; category derived (last word of the description); stock "
                       "simulated (seeded)",
                       _first_users([("purchase", e) for e in retail.read_events(folder)],
                                    users), retail.read_catalog(folder, seed))
    elif fmt == "retailrocket":
        log = EventLog(f"RetailRocket {path.name}", "retailrocket: view = view, addtocart = "
                       "click, transaction = purchase; ts = timestamp / 1000",
                       _first_users(_sorted(_retailrocket(path)), users))
    else:
        rows = _csv_rows(path) if fmt == "csv" else _jsonl_rows(path)
        log = EventLog(f"{fmt} log {path.name}", f"{fmt}: type as given (view/click/purchase)",
                       _first_users(_sorted(_generic(rows, path)), users))
    if max_events:
        log.events = log.events[:max_events]
    log.events = _unique_ids(log.events)
    if not log.catalog:
        items = dict.fromkeys(e["item_id"] for _, e in log.events)
        log.catalog = [{"item_id": i} for i in items]
    if not log.events:
        raise EventLogError(f"{path}: no events read (format {fmt})")
    return log


def _retailrocket(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, newline="") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            try:
                kind = RETAILROCKET_KINDS[r["event"]]
                ev = {"event_id": f"rr-{n}", "user_id": r["visitorid"], "item_id": r["itemid"],
                      "ts": int(r["timestamp"]) / 1000.0}
            except (KeyError, ValueError, TypeError) as e:
                raise EventLogError(f"{path}:{n}: not a RetailRocket events.csv row "
                                    f"(timestamp,visitorid,event,itemid,transactionid): {e!r}"
                                    ) from None
            yield kind, ev


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, newline="") as f:
        yield from enumerate(csv.DictReader(f), start=2)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield n, orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise EventLogError(f"{path}:{n}: malformed JSON: {e}") from None


def _generic(rows: Iterable[tuple[int, dict[str, Any]]], path: Path
             ) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, r in rows:
        try:
            kind = str(r["type"])
            if kind not in EVENT_KINDS:
                raise ValueError(f"type {kind!r} is not one of {', '.join(EVENT_KINDS)}")
            ev: dict[str, Any] = {"event_id": str(r.get("event_id") or f"log-{n}"),
                                  "user_id": str(r["user_id"]), "item_id": str(r["item_id"]),
                                  "ts": float(r["ts"])}
            for name, cast in (("price", float), ("quantity", int)):
                if r.get(name) not in (None, ""):
                    ev[name] = cast(r[name])
        except KeyError as e:
            raise EventLogError(f"{path}:{n}: missing field {e}; expected user_id, item_id, "
                                "ts, type (view/click/purchase)") from None
        except (ValueError, TypeError) as e:
            raise EventLogError(f"{path}:{n}: expected user_id, item_id, ts, type "
                                f"(view/click/purchase): {e!s}") from None
        yield kind, ev


def _sorted(events: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(events, key=lambda x: x[1]["ts"])   # stable: ties keep file order


def _first_users(events: list[tuple[str, dict[str, Any]]], users: int
                 ) -> list[tuple[str, dict[str, Any]]]:
    if not users:
        return events
    keep: set[str] = set()
    out = []
    for kind, e in events:
        u = e["user_id"]
        if u not in keep and len(keep) < users:
            keep.add(u)
        if u in keep:
            out.append((kind, e))
    return out


def _unique_ids(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Drop repeated event ids (the worker would deduplicate them anyway; dropping them here
    makes the expected count exact)."""
    seen: set[str] = set()
    out = []
    for kind, e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            out.append((kind, e))
    return out
