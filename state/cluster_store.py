"""Shared state on Redis Cluster: :class:`RedisStore`'s keys and scripts, spread over slots.

Every key carries a hash tag (``state/keyspace.py``; ``state/keys.py`` lists the families):

- a user's state and list (``user:``, ``rec:``) and an item's co-visitation and similar
  rows (``cv:``, ``cs:``) go by a **bucket** of their id, ``{b<crc32 % buckets>}``
  (``STREAMREC_REDIS_CLUSTER_BUCKETS``): the bulk of the data and of a batch's writes,
  spread over the nodes;
- everything else (watermarks, event ids, trending, catalog, experiments, metrics,
  snapshots) is in the **global** slot ``{g}``.

Each script runs in one slot and declares a key of it, so that the cluster sends it to
the node that holds every key it touches.

A batch's effects span slots, and no script can write them all at once. So ``commit``
takes two steps, and a crash between them loses or doubles nothing:

1. **fence** (global slot, one script): the watermarks are checked and moved as on one
   Redis (a stale writer is :class:`Fenced` and writes nothing anywhere); trending,
   rewards, impressions, metrics and event ids are applied; and the batch's **intent**,
   the other slots' shares of it, is saved and named in ``wmi`` per partition;
2. **shares** (one script per bucket, pipelined to their nodes): each applies its share
   unless its own ``wm`` says it did (``idem``: at most once per bucket).

The writer's next fence drops the intent. A worker that reads a partition whose intent
is still there (its writer died between the steps, or the worker's own try failed)
applies the intent's shares first (``batch_view``, in its one round trip): every share
lands exactly once.

>>> s = ClusterStore("redis://127.0.0.1:7000", "sr:", buckets=16)
>>> s.key("cv:42"), s.key("pop"), s.key("rec:u1")
('sr:{b8}cv:42', 'sr:{g}pop', 'sr:{b6}rec:u1')
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from streamrec.streams.schemas import StoredList, decode_list, made_at

from .batch import BatchWrite, Fenced, covisit_rows
from .keyspace import Keyspace
from .protocols import CLOCK_SKEW_S
from .redis_store import RedisStore

log = logging.getLogger(__name__)
Shares = dict[str, list[Any]]                 # bucket tag -> [script JSON, [key, value, ...]]


class ClusterStore(RedisStore):
    """:class:`RedisStore` on Redis Cluster (``STREAMREC_REDIS_CLUSTER``)."""

    def __init__(self, url: str, prefix: str = "", *, buckets: int = 64,
                 **kw: Any) -> None:
        self.keyspace = Keyspace(prefix, cluster=True, buckets=buckets)
        self._writer = uuid.uuid4().hex[:12]   # names this store's intents
        self._seq = 0
        self._done: str | None = None    # this store's last intent whose shares all landed
        self._drop: str | None = None    # ... still to be dropped by the next fence
        self.recovered = 0               # intents of others (or own failed tries) applied
        super().__init__(url, prefix, **kw)

    # -- keys ------------------------------------------------------------------------
    def _client(self, decode: bool) -> Any:
        return self.keyspace.client(self.url, decode=decode, protocol=2)

    def tag(self, name: str) -> str:
        return self.keyspace.tag(name)

    def key(self, name: str) -> str:
        return self.keyspace.key(name)

    def _p(self, tag: str = "g") -> str:
        return f"{self.prefix}{{{tag}}}"

    def _decl(self, tag: str = "g") -> list[str]:
        return [self._p(tag) + "wm"]

    async def _mget(self, keys: list[str]) -> list[Any]:
        return list(await self._r.mget_nonatomic(keys))

    async def _mset(self, mapping: dict[str, Any]) -> None:
        await self._r.mset_nonatomic(mapping)

    def _queue_mget(self, pipe: Any, keys: list[str]) -> None:
        for k in keys:
            pipe.get(k)

    def _pop_mget(self, res: list[Any], n: int) -> list[Any]:
        got = res[:n]
        del res[:n]
        return got

    # -- a batch's effects -------------------------------------------------------------
    def _queue_view(self, pipe: Any, fields: list[str]) -> None:
        pipe.hmget(self._p() + "wmi", fields)      # the intents named on the partitions

    async def _viewed(self, replies: list[Any], fields: list[str]) -> None:
        """Apply every intent left on ``fields`` before the batch goes on."""
        await self.recover(replies.pop(0))

    async def recover(self, named: Sequence[str | None]) -> int:
        """Apply the shares of the intents ``named`` (by ``wmi``) that are still there
        (their writers died between fence and shares, or this store's own try failed);
        returns how many."""
        g = self._p()
        n = 0
        for iid in {i for i in named if i and i != self._done}:
            blob = await self._r.get(g + "intent:" + iid)
            if blob is None:       # its writer dropped it: all its shares had landed
                continue
            await self._apply_shares(orjson.loads(blob))
            await self._r.delete(g + "intent:" + iid)
            n += 1
            log.warning("applied the shares of batch %s, left by a writer that stopped "
                        "between its fence and its shares", iid)
        self.recovered += n
        return n

    async def commit(self, write: BatchWrite) -> None:
        """Fence, then the shares (module docstring); :class:`Fenced` when refused."""
        if write.empty():
            return
        write.check_numbers()       # nothing may fail once the fence has landed
        shares = self._shares(write)
        glob = dataclasses.replace(
            write, visits=[], sets={k: v for k, v in write.sets.items()
                                    if self.tag(k) == "g"}, script_extra={})
        iid = None
        if shares and write.watermarks:
            self._seq += 1
            iid = f"{self._writer}-{self._seq}"
            glob.sets["intent:" + iid] = orjson.dumps(shares)
            glob.script_extra["wmi"] = iid
        if self._drop is not None and not glob.empty():
            glob.script_extra["done"] = self._drop
        if not glob.empty():
            try:
                await super().commit(glob)
            except Fenced as exc:
                # our own fence, landed with its reply lost (a retried timeout)?
                if iid is None or await self._r.hget(self._p() + "wmi", exc.field) != iid:
                    raise
            if "done" in glob.script_extra:
                self._drop = None
        await self._apply_shares(shares)
        if iid is not None:
            self._done = self._drop = iid

    def _shares(self, write: BatchWrite) -> Shares:
        """Each bucket's share of ``write``: its co-visitation rows, users and lists."""
        rows: dict[str, list[Any]] = {}
        sets: dict[str, list[str]] = {}
        for row, incs in (covisit_rows(write.visits, write.backward) if write.visits
                          else {}).items():
            rows.setdefault(self.tag("cv:" + row), []).append(
                [row, [x for kv in incs.items() for x in kv]])
        for k, v in write.sets.items():
            t = self.tag(k)
            if t != "g":
                sets.setdefault(t, []).extend((k, v.decode() if isinstance(v, bytes) else v))
        out: Shares = {}
        for t in rows.keys() | sets.keys():
            d: dict[str, Any] = {"wm": write.watermarks, "idem": 1}
            if t in rows:
                d["cv"], d["cap"] = rows[t], self.covisit_cap
            out[t] = [orjson.dumps(d).decode(), sets.get(t, [])]
        return out

    async def _apply_shares(self, shares: Shares) -> None:
        """Every bucket's share in one pipeline (per node, in parallel)."""
        if not shares:
            return
        for attempt in (0, 1):
            async with self._r.pipeline(transaction=False) as pipe:
                for t, (body, sets) in sorted(shares.items()):
                    pipe.evalsha(self._commit.sha, *self._keys(t), self._p(t), body,
                                 len(sets) // 2, *sets)
                try:
                    await pipe.execute()
                    return
                except NoScriptError:
                    if attempt:
                        raise
                    await self._r.script_load(self._commit.script)

    # -- serving -----------------------------------------------------------------------
    async def serve_raw(self, user_id: str, n_trending: int
                        ) -> tuple[bytes | None, StoredList | None, list[tuple[str, float]]]:
        """As :meth:`RedisStore.serve_raw`, with the sold-out filter done here: the list
        and the catalog's stock are in different slots, so no script can read both."""
        b = self._binary()
        async with b.pipeline(transaction=False) as pipe:
            pipe.get(self.key("rec:" + user_id))
            pipe.zrevrange(self.key("oos_at"), 0, 0, withscores=True)
            raw, last = await pipe.execute()
        if raw is None:
            trending = await self._r.zrevrange(self.key("pop"), 0, n_trending - 1,
                                               withscores=True)
            flags = (await self._r.smismember(self.key("oos"), [i for i, _ in trending])
                     if trending and last else [0] * len(trending))
            return None, None, [(i, float(s)) for (i, s), f in zip(trending, flags,
                                                                  strict=True) if not f]
        made = made_at(raw)
        if not last or last[0][1] < made - CLOCK_SKEW_S:
            return raw, None, []
        rec = decode_list(raw)
        sold = set(await self._r.zrangebyscore(self.key("oos_at"), made - CLOCK_SKEW_S,
                                               "+inf"))
        keep = [it for it in rec.items if it.item_id not in sold]
        if len(keep) == len(rec.items):
            return raw, None, []
        rec.items = keep
        return None, rec, []

    # -- privacy -----------------------------------------------------------------------
    async def forget_user(self, user_id: str, at: float) -> list[str]:
        """The mark and the user's keys in its bucket first (the shares' scripts check
        the mark there), then as on one Redis in the global slot."""
        t = self.tag("user:" + user_id)
        removed = list(await self._forget(keys=self._decl(t),
                                          args=[self._p(t), user_id, repr(at)]))
        return removed + await super().forget_user(user_id, at)

    async def consent_user(self, user_id: str) -> bool:
        await self._r.hdel(self._p(self.tag("user:" + user_id)) + "forgotten", user_id)
        return await super().consent_user(user_id)
