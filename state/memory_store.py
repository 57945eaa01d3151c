"""Shared state in one process's memory: the same behaviour as :class:`RedisStore`.

For unit tests and the fast offline evaluation (``streamrec evaluate --backend memory``):
the worker's :class:`~streamrec.streams.worker.processor.Processor` runs on it unchanged. Each
method does what the Redis backend's script or command does, in the same order and with
the same float arithmetic (``lua/commit.lua`` is the reference); ``tests/contract/`` holds
both to one suite. The distinct-served count is exact here (Redis: HyperLogLog, ~0.8%).

>>> import asyncio
>>> from streamrec.state.batch import BatchWrite
>>> st = MemoryStore(half_life_s=60.0)
>>> asyncio.run(st.commit(BatchWrite(trending=[("a", 0.0), ("b", 0.0), ("a", 60.0)])))
>>> asyncio.run(st.fetch_candidates([], 10, 2)).trending
[('a', 3.0), ('b', 1.0)]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from streamrec.models.events import CatalogChange
from streamrec.models.prequential import Tally
from streamrec.streams.schemas import StoredList, decode_list

from . import catalog_merge
from .batch import BatchWrite, Fenced, covisit_rows
from .memory_experiments import MemoryExperiments
from .memory_privacy import MemoryPrivacy
from .metrics_payload import metrics_payload, parse_curve
from .protocols import CLOCK_SKEW_S, BatchView, Candidates, Lists
from .zset import ZSet


class MemoryStore(MemoryExperiments, MemoryPrivacy):
    """All of streamrec's shared state in dicts. Use as ``async with MemoryStore()``."""

    def __init__(self, *, half_life_s: float = 7 * 86400.0, covisit_cap: int = 200,
                 clock: Any = time.time) -> None:
        self.half_life_s = half_life_s
        self.covisit_cap = covisit_cap
        self.clock = clock
        self.hashes: dict[str, dict[str, Any]] = {}     # wm, wm:pop, metrics, lat, ...
        self.strings: dict[str, Any] = {}               # rec:, user:, exp:, model:, ...
        self.expiry: dict[str, float] = {}              # string key -> expires at
        self.zsets: dict[str, ZSet] = {}                # pop, cv:, cs:, ids:, oos_at
        self.sets: dict[str, set[str]] = {"items": set(), "oos": set(), "exps": set(),
                                          "served": set()}
        self.pop_t0: float | None = None

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    def _hash(self, name: str) -> dict[str, Any]:
        return self.hashes.setdefault(name, {})

    def _zset(self, name: str) -> ZSet:
        z = self.zsets.get(name)
        if z is None:
            z = self.zsets[name] = ZSet()
        return z

    def _get(self, key: str) -> Any:
        at = self.expiry.get(key)
        if at is not None and at <= self.clock():
            self.strings.pop(key, None)
            del self.expiry[key]
        return self.strings.get(key)

    def _set_nx(self, key: str, value: Any, ttl_s: float) -> bool:
        if self._get(key) is not None:
            return False
        self.strings[key] = value
        if ttl_s > 0:
            self.expiry[key] = self.clock() + ttl_s
        return True

    # -- a batch's effects ---------------------------------------------------------------
    async def watermarks(self, fields: Sequence[str]
                         ) -> tuple[dict[str, int], dict[str, int]]:
        view = await self.batch_view(fields, {})
        return view.marks, view.pop_marks

    async def batch_view(self, fields: Sequence[str], ids: dict[str, list[str]]
                         ) -> BatchView:
        wm, pop = self._hash("wm"), self._hash("wm:pop")
        seen = {(f, i) for f, group in ids.items() for i in group
                if i in self.zsets.get("ids:" + f, ())}
        return BatchView({f: wm[f] for f in fields if f in wm},
                         {f: pop[f] for f in fields if f in pop}, seen,
                         int(self.strings.get("forgotten:v", 0)))

    async def commit(self, write: BatchWrite) -> None:
        """Apply ``write`` whole, or raise :class:`Fenced` and apply nothing (as
        ``commit.lua``; a bad number raises ``ValueError`` before any write)."""
        if write.empty():
            return
        marks = self._hash(write.watermark_hash)
        for f, expected, _ in write.watermarks:
            current = marks.get(f, -1)
            if current != expected:
                raise Fenced(f, current)
        write.check_numbers()
        self._trending(write.trending)
        self._covisit(write.visits, write.backward)
        self._rewards(write.rewards)
        arms_s = self._hash("arm:s")
        for item in write.clicks:
            arms_s[item] = arms_s.get(item, 0) + 1
        forgotten = self.hashes.get("forgotten") or {}
        for k, v in write.sets.items():
            if k.partition(":")[2] not in forgotten or not k.startswith(("user:", "rec:")):
                self.strings[k] = v
        self._impressions(write)
        arms_n = self._hash("arm:n")
        for item in write.shown:
            arms_n[item] = arms_n.get(item, 0) + 1
        if write.metrics is not None:
            self._metrics(orjson.loads(write.metrics))
        self._event_ids(write.event_ids, write.id_window)
        for f, _, nxt in write.watermarks:
            marks[f] = nxt

    def _trending(self, pop: list[tuple[str, float]]) -> None:
        if not pop:
            return
        # t0 is exact within one call and stored rounded to 1 us, as the script does
        hl, z, t0 = self.half_life_s, self._zset("pop"), self.pop_t0
        for item, ts in pop:
            if t0 is None:
                t0 = ts
                self.pop_t0 = float(f"{ts:.6f}")
            if (ts - t0) / hl > 60:       # rebase: every score x 2^((t0 - ts) / hl)
                z.scale(2 ** ((t0 - ts) / hl))
                t0 = ts
                self.pop_t0 = float(f"{ts:.6f}")
            z.incr(item, 2 ** ((ts - t0) / hl))

    def _covisit(self, visits: Sequence[Any], back: float) -> None:
        cap = self.covisit_cap
        for row, incs in covisit_rows(visits, back).items():
            z = self._zset("cv:" + row)
            for member, by in incs.items():
                z.incr(member, by)
            if len(z) > 2 * cap:
                z.trim(cap)

    def _rewards(self, rewards: Sequence[tuple[str, str, float]]) -> None:
        for imp_id, kind, value in rewards:
            raw = self._get("imp:" + imp_id)
            if raw is None:
                continue
            imp = orjson.loads(raw)
            stats, v = self._hash("expstats:" + imp["experiment"]), imp["variant"]
            if kind == "click":
                value = imp["rc"]
            elif imp["rp"] != "value":
                value = 1
            name = v + (":purchases" if kind == "purchase" else ":clicks")
            stats[name] = stats.get(name, 0) + 1
            stats[v + ":reward"] = stats.get(v + ":reward", 0.0) + float(value)
            if self._set_nx("impok:" + imp_id, "1", imp["window"]):
                stats[v + ":successes"] = stats.get(v + ":successes", 0) + 1

    def _impressions(self, write: BatchWrite) -> None:
        imp = write.impressions
        if imp is None or not imp.lists:
            return
        stats = self._hash("expstats:" + imp.experiment)
        forgotten = self.hashes.get("forgotten") or {}
        for imp_id, variant, user in imp.lists:
            if user in forgotten:
                continue
            body = orjson.dumps({"experiment": imp.experiment, "variant": variant,
                                 "user": user, "window": imp.window_s,
                                 "rc": imp.reward_click, "rp": imp.reward_purchase})
            if self._set_nx("imp:" + imp_id, body, imp.window_s):
                stats[variant + ":impressions"] = stats.get(variant + ":impressions", 0) + 1

    def _metrics(self, m: dict[str, Any]) -> None:
        for name, f, n in m["i"]:
            h = self._hash(name)
            h[f] = int(h.get(f, 0)) + int(n)
        for name, f, x in m["f"]:
            h = self._hash(name)
            h[f] = float(h.get(f, 0.0)) + float(x)
        self._hash("workers")[m["w"][0]] = m["w"][1]
        self.sets["served"].update(m["s"])

    def _event_ids(self, ids: Sequence[tuple[str, int, str]], cap: int) -> None:
        if not ids or not cap:
            return
        touched = set()
        for f, offset, event_id in ids:
            z = self._zset("ids:" + f)
            z.put(event_id, float(offset))
            touched.add("ids:" + f)
        for key in touched:
            z = self.zsets[key]
            if len(z) > cap + cap / 10:
                z.trim(cap)

    async def read_batch(self, rec_users: Sequence[str], cand_items: list[str] | None = None,
                         per_item: int = 0, n_trending: int = 0, content: bool = False,
                         first: BatchWrite | None = None
                         ) -> tuple[Lists, Candidates | None]:
        if first is not None:
            await self.commit(first)
        lists = await self.read_recs(rec_users)
        cands = (await self.fetch_candidates(cand_items, per_item, n_trending, content)
                 if cand_items is not None else None)
        return lists, cands

    # -- candidates ----------------------------------------------------------------------
    async def fetch_candidates(self, items: Iterable[str], per_item: int, n_trending: int,
                               content: bool = True) -> Candidates:
        items = list(dict.fromkeys(items))
        z = self.zsets
        covis = {i: z["cv:" + i].top(per_item) for i in items if z.get("cv:" + i)}
        sims = ({i: z["cs:" + i].top(per_item) for i in items if z.get("cs:" + i)}
                if content else {})
        return Candidates(covis, sims, self._zset("pop").top(n_trending),
                          set(self.sets["oos"]), int(self.strings.get("catalog:v", 0)))

    # -- catalog -------------------------------------------------------------------------
    async def apply_catalog(self, changes: Iterable[CatalogChange]) -> None:
        changes = list(changes)
        if not changes:
            return
        catalog = self._hash("catalog")
        merged = catalog_merge.merge(changes, catalog)
        catalog.update(merged)
        self.strings["catalog:v"] = int(self.strings.get("catalog:v", 0)) + 1
        self.sets["items"].update(merged)
        out, back = catalog_merge.stock_moves(merged)
        now, oos_at = self.clock(), self._zset("oos_at")
        self.sets["oos"].update(out)
        for i in out:
            oos_at.put(i, now)
        self.sets["oos"].difference_update(back)
        for i in back:
            oos_at.discard(i)

    async def all_items(self, limit: int) -> set[str]:
        items = self.sets["items"]
        return set() if len(items) > limit else set(items)

    async def known_items(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.sets["items"]}

    async def item(self, item_id: str) -> dict[str, Any] | None:
        d = self._hash("catalog").get(item_id)
        return dict(d) if d is not None else None

    async def catalog_info(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        catalog = self._hash("catalog")
        return {i: dict(catalog[i]) for i in ids if i in catalog}

    async def embeddings(self, ids: Sequence[str]) -> dict[str, Any]:
        emb = self._hash("emb")
        return {i: emb[i] for i in ids if i in emb}

    async def out_of_stock(self) -> set[str]:
        return set(self.sets["oos"])

    async def catalog_built(self) -> bool:
        return "catalog:built" in self.strings

    async def mark_catalog_built(self, changes: int) -> None:
        self.strings["catalog:built"] = str(changes)

    # -- lists and user states -----------------------------------------------------------
    async def read_recs(self, user_ids: Sequence[str]) -> Lists:
        out = {}
        for u in user_ids:
            raw = self.strings.get("rec:" + u)
            if raw is not None:
                out[u] = [i.item_id for i in decode_list(raw).items]
        return out

    async def write_recs(self, recs: dict[str, bytes]) -> None:
        self.strings.update(("rec:" + u, v) for u, v in recs.items())

    async def serve_rec(self, user_id: str, n_trending: int
                        ) -> tuple[StoredList | None, list[tuple[str, float]]]:
        """The list without the items sold out since it was made (or, for a user without
        one, (None, trending in stock))."""
        oos = self.sets["oos"]
        raw = self.strings.get("rec:" + user_id)
        if raw is None:
            return None, [(i, s) for i, s in self._zset("pop").top(n_trending)
                          if i not in oos]
        rec = decode_list(raw)
        since = {i for i, t in self._zset("oos_at").items()
                 if t >= rec.generated_at - CLOCK_SKEW_S}
        if since:
            rec.items = [it for it in rec.items if it.item_id not in since]
        return rec, []

    async def user_states(self, user_ids: Sequence[str]) -> list[str | bytes | None]:
        return [self.strings.get("user:" + u) for u in user_ids]

    async def put_user_states(self, states: dict[str, bytes]) -> None:
        self.strings.update(("user:" + u, v) for u, v in states.items())

    # -- metrics and liveness ------------------------------------------------------------
    metrics_payload = staticmethod(metrics_payload)

    async def record_batch(self, **counts: Any) -> None:
        self._metrics(orjson.loads(metrics_payload(**counts)))

    async def read_metrics(self) -> tuple[dict[str, float], dict[str, int], dict[str, Any]]:
        out = {k: float(v) for k, v in self._hash("metrics").items()}
        out["served_items"] = float(len(self.sets["served"]))
        out["catalog_items"] = float(len(self.sets["items"]))
        out["sold_out_items"] = float(len(self.sets["oos"]))
        return (out, {k: int(v) for k, v in self._hash("lat").items()},
                {k: orjson.loads(v) for k, v in self._hash("workers").items()})

    async def read_curve(self) -> dict[int, Tally]:
        return parse_curve(self._hash("preqc"))

    async def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        self._hash("workers")[worker] = orjson.dumps(info).decode()

    async def heartbeats(self) -> dict[str, dict[str, Any]]:
        return {k: orjson.loads(v) for k, v in self._hash("workers").items()}

    # -- model snapshots -----------------------------------------------------------------
    async def snapshot_version(self) -> str | None:
        v = self.strings.get("model:version")
        return v.decode() if isinstance(v, bytes) else v

    async def put_snapshot(self, blob: bytes, version: int, metrics: dict[str, Any]) -> None:
        self.strings["model:snapshot"] = blob
        self.strings["model:version"] = str(version)
        self.strings["model:metrics"] = orjson.dumps({**metrics, "version": version})

    async def get_bytes(self, name: str) -> bytes | None:
        v = self.strings.get(name)
        return v.encode() if isinstance(v, str) else v
