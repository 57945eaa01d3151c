"""What one batch of the worker writes, as one atomic Redis script (``lua/commit.lua``).

A :class:`BatchWrite` gathers a batch's effects (trending, co-visitation, rewards,
impressions, metrics, user states and lists) and the applied-offset watermarks that guard
them; :meth:`RedisStore.commit` runs them in one script, so a crash leaves all or none.

>>> w = BatchWrite(watermarks=[("events:0", -1, 8)], trending=[("i1", 10.0)])
>>> w.sets["rec:u1"] = b'{"items":[]}'
>>> args = w.args("p:", half_life_s=60.0, covisit_cap=200)
>>> args[0], orjson.loads(args[1])["wm"], args[2:]
('p:', [['events:0', -1, 8]], [1, 'rec:u1', b'{"items":[]}'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

# a new interaction with an item, the items it pairs with (models.covisit.partners, newest
# first) and its time weight
Visit = tuple[str, Sequence[str], float]


def lua(name: str) -> str:
    """The text of ``state/lua/{name}.lua``."""
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


def covisit_rows(visits: Sequence[Visit], backward: float) -> dict[str, dict[str, float]]:
    """The co-visitation increments of ``visits``, summed per row and member: the d-th
    partner o (newest first) of a visit of ``item`` with time weight ``scale`` adds
    scale/d to ``cv:{o}[item]`` and ``backward`` x that to ``cv:{item}[o]``
    (models.covisit.pairs_for). A batch repeats many pairs (a click after the view of
    the same item; on movielens 42% of a 1,000-event batch's increments), so summing
    them here spares Redis one ZINCRBY each.

    >>> covisit_rows([("b", ["a"], 1.0), ("b", ["a"], 2.0), ("c", ["b", "a"], 1.0)], 0.5)
    {'b': {'a': 1.5, 'c': 1.0}, 'a': {'b': 3.0, 'c': 0.5}, 'c': {'b': 0.5, 'a': 0.25}}
    """
    rows: dict[str, dict[str, float]] = {}
    for item, others, scale in visits:
        if not others:
            continue
        own = rows.get(item)
        if own is None:
            own = rows[item] = {}
        for n, other in enumerate(others, start=1):
            w = scale / n
            row = rows.get(other)
            if row is None:
                row = rows[other] = {}
            row[item] = row.get(item, 0.0) + w
            own[other] = own.get(other, 0.0) + w * backward
    return rows


def watermark_field(topic: str, partition: int) -> str:
    """The ``wm`` hash field of a topic partition."""
    return f"{topic}:{partition}"


@dataclass
class Impressions:
    """Lists served under a running experiment: (impression id, variant, user) each."""

    experiment: str
    window_s: int
    reward_click: float
    reward_purchase: str
    lists: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class BatchWrite:
    watermarks: list[tuple[str, int, int]] = field(default_factory=list)  # field, seen, next
    trending: list[tuple[str, float]] = field(default_factory=list)       # item, event time
    visits: list[Visit] = field(default_factory=list)
    rewards: list[tuple[str, str, float]] = field(default_factory=list)   # imp id, kind, value
    clicks: list[str] = field(default_factory=list)        # clicked items (exploration)
    impressions: Impressions | None = None
    shown: list[str] = field(default_factory=list)         # items shown by exploration
    metrics: bytes | None = None                           # RedisStore.metrics_payload
    sets: dict[str, bytes] = field(default_factory=dict)   # key (no prefix) -> value
    event_ids: list[tuple[str, int, str]] = field(default_factory=list)  # field, offset, id
    id_window: int = 0        # event ids remembered per partition (duplicates are dropped)
    backward: float = 1.0     # weight of a co-visitation pair's newer -> older direction
    watermark_hash: str = "wm"   # "wm:pop": trending, which the worker applies first
    script_extra: dict[str, Any] = field(default_factory=dict)   # cluster_store's fields

    def empty(self) -> bool:
        return not (self.watermarks or self.trending or self.visits or self.rewards
                    or self.clicks or self.impressions or self.shown or self.metrics
                    or self.sets or self.event_ids or self.script_extra)

    def check_numbers(self) -> None:
        """Raise ``ValueError`` for a number ``lua/commit.lua`` refuses (it checks them
        before its first write; the in-memory store does the same)."""
        def finite(x: Any) -> bool:
            return isinstance(x, int | float) and math.isfinite(x)
        for item, ts in self.trending:
            if not finite(ts):
                raise ValueError(f"streamrec commit: trending time of {item}")
        for item, _, scale in self.visits:
            if not finite(scale):
                raise ValueError(f"streamrec commit: co-visitation weight of {item}")
        for imp_id, _, value in self.rewards:
            if not finite(value):
                raise ValueError(f"streamrec commit: reward value of {imp_id}")

    def args(self, prefix: str, *, half_life_s: float, covisit_cap: int) -> list[Any]:
        """The script's arguments (see ``lua/commit.lua``)."""
        d: dict[str, Any] = {}
        if self.watermarks:
            d["wm"] = self.watermarks
            if self.watermark_hash != "wm":
                d["wmk"] = self.watermark_hash
        if self.trending:
            d["pop"], d["hl"] = self.trending, half_life_s
        if self.visits:
            d["cv"] = [[row, [x for kv in incs.items() for x in kv]] for row, incs
                       in covisit_rows(self.visits, self.backward).items()]
            d["cap"] = covisit_cap
        if self.rewards:
            d["rw"] = self.rewards
        if self.clicks:
            d["clk"] = self.clicks
        if self.impressions is not None and self.impressions.lists:
            i = self.impressions
            d["imp"] = {"e": i.experiment, "window": i.window_s, "rc": i.reward_click,
                        "rp": i.reward_purchase, "l": i.lists}
        if self.shown:
            d["shown"] = self.shown
        if self.event_ids and self.id_window:
            d["ids"], d["idcap"] = self.event_ids, self.id_window
        if self.metrics is not None:
            d["m"] = orjson.Fragment(self.metrics)
        d.update(self.script_extra)
        out: list[Any] = [prefix, orjson.dumps(d), len(self.sets)]
        for k, v in self.sets.items():
            out += (k, v)
        return out


class Fenced(Exception):  # noqa: N818 - a state, not an error of the caller
    """A batch was not written: the watermark of ``field`` was ``current``, not what this
    writer read (another writer, e.g. the partition's new owner, moved it since; or this
    writer's own earlier try landed after its reply was lost)."""

    def __init__(self, field: str, current: int) -> None:
        super().__init__(f"watermark of {field} is {current}, not what this writer read")
        self.field, self.current = field, current


def check_reply(reply: Sequence[Any]) -> None:
    """Raise :class:`Fenced` for the commit script's refusal ``{0, field, current}``."""
    if int(reply[0]) != 1:
        f = reply[1]
        raise Fenced(f.decode() if isinstance(f, bytes) else str(f), int(reply[2]))
