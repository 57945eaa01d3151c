"""Per-user state: the recent item sequence, what was seen and what was bought, and the
user's profile (``models/profile.py``).

The items' updates are idempotent (an item moves to the front; sets are sets); the
profile's weights are not, and need not be: a state is written in the same atomic commit
as the watermarks of the events it holds, so no event is applied to it twice.

>>> s = UserState()
>>> for item in ["a", "b", "a", "c"]:
...     s.observe(item, "view", recent_cap=3, seen_cap=10)
>>> s.recent, sorted(s.seen)
(['c', 'a', 'b'], ['a', 'b', 'c'])
>>> UserState.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import Interaction
from .profile import Profile


@dataclass
class UserState:
    recent: list[str] = field(default_factory=list)   # most recent first, unique
    seen: list[str] = field(default_factory=list)     # oldest first, capped
    bought: list[str] = field(default_factory=list)   # oldest first, capped
    last_ts: float = 0.0
    profile: Profile = field(default_factory=Profile)

    def observe(self, item_id: str, kind: str, *, recent_cap: int, seen_cap: int,
                ts: float = 0.0, category: str | None = None, price: float | None = None,
                session_id: str | None = None) -> None:
        """Record one interaction in place (``category`` and ``price``: the item's, for
        the profile)."""
        self.profile.observe(kind, category, price, ts=ts, session_id=session_id)
        if self.recent and self.recent[0] == item_id:
            pass
        else:
            if item_id in self.recent:
                self.recent.remove(item_id)
            self.recent.insert(0, item_id)
            del self.recent[recent_cap:]
        if item_id not in self.seen:
            self.seen.append(item_id)
            if len(self.seen) > seen_cap:
                del self.seen[: len(self.seen) - seen_cap]
        if kind == "purchase" and item_id not in self.bought:
            self.bought.append(item_id)
            if len(self.bought) > seen_cap:
                del self.bought[: len(self.bought) - seen_cap]
        self.last_ts = max(self.last_ts, ts)

    def apply(self, ev: Interaction, item: Mapping[str, Any] | None, *, recent_cap: int,
              seen_cap: int) -> None:
        """Record event ``ev``; ``item``: its item's catalog info (category, price)."""
        d = item or {}
        self.observe(ev.item_id, ev.kind, recent_cap=recent_cap, seen_cap=seen_cap, ts=ev.ts,
                     category=d.get("category"),
                     price=ev.price if ev.price is not None else d.get("price"),
                     session_id=ev.session_id)

    def to_json(self) -> dict[str, Any]:
        return {"r": self.recent, "s": self.seen, "b": self.bought, "t": self.last_ts,
                "p": self.profile.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> UserState:
        if not d:
            return cls()
        return cls(list(d.get("r", ())), list(d.get("s", ())), list(d.get("b", ())),
                   float(d.get("t", 0.0)), Profile.from_json(d.get("p")))
