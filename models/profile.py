"""A user's profile, kept up to date event by event (pure, no I/O): category affinity,
price band and price sensitivity, recency and the current session.

- **Category affinity**: a weight per category, each event adding its kind's weight
  (view 1, click 2, purchase 4) after every weight decays by :data:`DECAY`; the
  :data:`MAX_CATEGORIES` heaviest are kept. Longer-lived than the recent items.
- **Prices**: the last :data:`PRICES_KEPT` prices viewed give the band (quartiles);
  sensitivity is the mean log price bought against the mean log price viewed (below 1:
  buys cheaper than it browses).
- **Session**: the event's ``session_id`` when it has one, else a new session after
  :data:`SESSION_GAP_S` of inactivity.

It is stored with the user's state (``user:{id}``), used by the learned ranker as
features (:func:`streamrec.models.ranking.candidate_features`) and served by
``GET /users/{id}/profile``.

>>> p = Profile()
>>> p.observe("view", "Drama", 10.0, ts=0.0)
>>> p.observe("purchase", "Drama", 5.0, ts=60.0)
>>> p.observe("view", "Horror", 40.0, ts=7200.0)
>>> round(p.affinity("Drama"), 3), p.session[1:]      # a new session after two hours
(0.825, [7200.0, 1])
>>> p.summary(7260.0)["price"]["band"]
[10.0, 40.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

DECAY = 0.95
KIND_WEIGHT = {"view": 1.0, "click": 2.0, "purchase": 4.0}
MAX_CATEGORIES = 12
PRICES_KEPT = 20
SESSION_GAP_S = 1800.0


@dataclass
class Profile:
    cats: dict[str, float] = field(default_factory=dict)   # category -> decayed weight
    viewed: list[float] = field(default_factory=list)      # last prices viewed
    bought: list[float] = field(default_factory=list)      # [n, sum of log prices] bought
    session: list[Any] = field(default_factory=list)       # [key, started at, events]
    first_ts: float = 0.0
    last_ts: float = 0.0
    last_kind: str = ""                                    # the newest event's kind

    def observe(self, kind: str, category: str | None, price: float | None, *, ts: float,
                session_id: str | None = None) -> None:
        """One event of the user on an item of ``category`` at ``price``."""
        if category is not None:
            cats = self.cats
            for c in cats:
                cats[c] *= DECAY
            cats[category] = cats.get(category, 0.0) + KIND_WEIGHT.get(kind, 1.0)
            if len(cats) > MAX_CATEGORIES:
                del cats[min(cats, key=cats.__getitem__)]
        if price is not None and price > 0:
            if kind == "purchase":
                n, s = self.bought or (0, 0.0)
                self.bought = [n + 1, s + math.log(price)]
            else:
                self.viewed.append(price)
                del self.viewed[:-PRICES_KEPT]
        if session_id is not None:
            key: Any = session_id
            fresh = not self.session or self.session[0] != key
        else:
            key = None
            fresh = not self.session or ts - self.last_ts > SESSION_GAP_S
        self.session = [key, ts, 1] if fresh else [key, self.session[1], self.session[2] + 1]
        self.last_kind = kind
        if not self.first_ts:
            self.first_ts = ts
        self.last_ts = max(self.last_ts, ts)

    def affinity(self, category: str | None) -> float:
        """The share of the user's category weight on ``category`` (0 for unknown)."""
        total = sum(self.cats.values())
        return self.cats.get(category, 0.0) / total if category is not None and total else 0.0

    def log_price(self) -> float | None:
        """The mean log price the user views (None before it viewed a priced item)."""
        v = self.viewed
        return sum(math.log(p) for p in v) / len(v) if v else None

    def price_fit(self, price: float | None, mine: float | None = None) -> float:
        """How near ``price`` is to what the user views: exp(-|log price - mean log
        price viewed|), 1 at the user's typical price; 0 when either is unknown.
        ``mine`` is :meth:`log_price`, when the caller has it already."""
        mine = self.log_price() if mine is None else mine
        if mine is None or not price or price <= 0:
            return 0.0
        return math.exp(-abs(math.log(price) - mine))

    def sensitivity(self) -> float | None:
        """Mean price bought / mean price viewed (geometric means); None until both."""
        viewed = self.log_price()
        if viewed is None or not self.bought:
            return None
        return math.exp(self.bought[1] / self.bought[0] - viewed)

    def summary(self, now: float) -> dict[str, Any]:
        """What ``GET /users/{id}/profile`` serves."""
        v = sorted(self.viewed)
        band = [v[round(0.25 * (len(v) - 1))], v[round(0.75 * (len(v) - 1))]] if v else None
        sens = self.sensitivity()
        return {
            "categories": [{"category": c, "affinity": round(self.affinity(c), 4)}
                           for c in sorted(self.cats, key=lambda c: -self.cats[c])],
            "price": {"band": band, "typical_viewed": (round(math.exp(self.log_price()), 2)
                                                       if v else None),
                      "sensitivity": round(sens, 4) if sens is not None else None,
                      "purchases_priced": int(self.bought[0]) if self.bought else 0},
            "recency": {"first_event_ts": self.first_ts, "last_event_ts": self.last_ts,
                        "seconds_since_last": round(max(0.0, now - self.last_ts), 1)
                        if self.last_ts else None},
            "session": ({"session_id": self.session[0], "started_at": self.session[1],
                         "events": self.session[2]} if self.session else None)}

    def to_json(self) -> dict[str, Any]:
        return {"c": self.cats, "v": self.viewed, "b": self.bought, "s": self.session,
                "f": self.first_ts, "t": self.last_ts, "k": self.last_kind}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Profile:
        if not d:
            return cls()
        return cls(dict(d.get("c", {})), list(d.get("v", ())), list(d.get("b", ())),
                   list(d.get("s", ())), float(d.get("f", 0.0)), float(d.get("t", 0.0)),
                   str(d.get("k", "")))
