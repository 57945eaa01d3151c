"""Per-user state: the recent item sequence, what was seen and what was bought.

Updates are idempotent (an item moves to the front; sets are sets), so replaying an
event after a crash leaves the state as it was.

>>> s = UserState()
>>> for item in ["a", "b", "a", "c"]:
...     s.observe(item, "view", recent_cap=3, seen_cap=10)
>>> s.recent, sorted(s.seen)
(['c', 'a', 'b'], ['a', 'b', 'c'])
>>> UserState.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserState:
    recent: list[str] = field(default_factory=list)   # most recent first, unique
    seen: list[str] = field(default_factory=list)     # oldest first, capped
    bought: list[str] = field(default_factory=list)   # oldest first, capped
    last_ts: float = 0.0

    def observe(self, item_id: str, kind: str, *, recent_cap: int, seen_cap: int,
                ts: float = 0.0) -> None:
        """Record one interaction in place."""
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

    def to_json(self) -> dict[str, Any]:
        return {"r": self.recent, "s": self.seen, "b": self.bought, "t": self.last_ts}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> UserState:
        if not d:
            return cls()
        return cls(list(d.get("r", ())), list(d.get("s", ())), list(d.get("b", ())),
                   float(d.get("t", 0.0)))
