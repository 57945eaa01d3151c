"""Shared state in Redis: popularity, co-visitation, catalog, served lists, metrics.

One :class:`RedisStore` owns one connection pool; every batch of the worker costs a
fixed number of round trips (pipelines and one Lua script), not one per event.

The keys (all under ``redis_prefix``) are listed, with their types, lifetimes and
writers, in ``state/keys.py``. The catalog, experiment and metrics operations are in
``redis_catalog.py``, ``redis_experiments.py`` and ``redis_metrics.py``.

The scripts build key names from the prefix (``_p``), so on one Redis every key is
theirs; ``state/cluster_store.py`` runs the same scripts slot by slot on Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from streamrec.streams.schemas import StoredList, decode_list, made_at

from .batch import BatchWrite, Visit, check_reply, lua
from .protocols import CLOCK_SKEW_S, BatchView, Candidates
from .redis_catalog import RedisCatalog
from .redis_experiments import RedisExperiments
from .redis_metrics import RedisMetrics
from .redis_privacy import RedisPrivacy
from .resp import MISS, RespClient

IngestItem = tuple[str, str, float, Sequence[str], float]   # event_id, item, ts, partners, scale
log = logging.getLogger(__name__)

# The scripts are in state/lua/ (serve.lua: why serving rarely needs one; metrics.lua)


class RedisStore(RedisCatalog, RedisExperiments, RedisMetrics, RedisPrivacy):
    """Async access to streamrec's shared state. Use as ``async with RedisStore(...)``."""

    def __init__(self, url: str, prefix: str = "", *, half_life_s: float = 7 * 86400.0,
                 covisit_cap: int = 200, cache_lists: bool = False) -> None:
        self.url = url
        self.cache_lists = cache_lists     # serve_raw keeps what it read until Redis says
                                           # it changed (state/resp.py, tracking)
        self.prefix = prefix
        self.half_life_s = half_life_s
        self.covisit_cap = covisit_cap
        self._r = self._client(decode=True)
        self._commit = self._r.register_script(lua("commit"))
        self._exp_status = self._r.register_script(lua("experiment_status"))
        self._seen = self._r.register_script(lua("seen_ids"))
        self._serve = self._r.register_script(lua("serve"))
        self._metrics = self._r.register_script(lua("metrics"))
        self._forget = self._r.register_script(lua("forget"))
        self._raw: aioredis.Redis | None = None   # for binary values (model snapshots)
        self._fast: RespClient | None = None      # the API's read path, made on first use

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._r.aclose()
        if self._raw is not None:
            await self._raw.aclose()
        if self._fast is not None:
            await self._fast.aclose()

    async def snapshot_version(self) -> str | None:
        """The version of the learner's newest River snapshot (``model:version``)."""
        return await self._r.get(self.key("model:version"))

    async def put_snapshot(self, blob: bytes, version: int, metrics: dict[str, Any]) -> None:
        """Publish a signed River snapshot, its version and metrics in one transaction."""
        async with self._binary().pipeline(transaction=True) as pipe:
            pipe.set(self.key("model:snapshot"), blob)
            pipe.set(self.key("model:version"), version)
            pipe.set(self.key("model:metrics"), orjson.dumps({**metrics, "version": version}))
            await pipe.execute()

    async def get_bytes(self, name: str) -> bytes | None:
        return await self._binary().get(self.key(name))

    def _client(self, decode: bool) -> Any:
        """A client of the store's Redis (the cluster store's: a cluster client)."""
        if decode:   # RESP2: redis-py 8 turns RESP3 sorted-set scores back into bytes and
            # then floats for its legacy reply shapes; on RESP2 a batch's candidate rows
            # parse ~40% faster
            return aioredis.Redis.from_url(self.url, decode_responses=True, protocol=2)
        return aioredis.Redis.from_url(self.url)

    def _binary(self) -> Any:
        """The client for binary values (model snapshots, embeddings), made on first use."""
        if self._raw is None:
            self._raw = self._client(decode=False)
        return self._raw

    def _p(self, tag: str = "g") -> str:
        """The prefix a script builds its key names from; on a cluster, with the hash tag
        of the slot they all share (``tag``: "g", or a bucket of users and items)."""
        return self.prefix

    def _decl(self, tag: str = "g") -> list[str]:
        """The key a script declares: on a cluster, one of the slot its keys are in, so
        that the script is sent to the node that holds them; none on one Redis."""
        return []

    @property
    def client(self) -> aioredis.Redis:
        return self._r

    def key(self, name: str) -> str:
        return self.prefix + name

    async def ping(self) -> bool:
        return bool(await self._r.ping())

    # -- a batch's effects ---------------------------------------------------------------
    async def watermarks(self, fields: Sequence[str]
                         ) -> tuple[dict[str, int], dict[str, int]]:
        """The next offset to apply of each ``topic:partition`` field (absent: none yet),
        for the batch's effects (``wm``) and for trending (``wm:pop``)."""
        view = await self.batch_view(fields, {})
        return view.marks, view.pop_marks

    async def batch_view(self, fields: Sequence[str], ids: dict[str, list[str]]
                         ) -> BatchView:
        """What a batch reads first, in one round trip: the watermarks of ``fields`` and
        which of the event ``ids`` (by field) its partition applied recently."""
        fields = list(fields)
        if not fields:
            return BatchView({}, {}, set())
        groups = [(f, ids[f]) for f in fields if ids.get(f)]
        for attempt in (0, 1):
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hmget(self.key("wm"), fields)
                pipe.hmget(self.key("wm:pop"), fields)
                pipe.get(self.key("forgotten:v"))
                self._queue_view(pipe, fields)
                if groups:     # one script, a short reply: ZMSCORE's cost ~30 us per event
                    pipe.evalsha(self._seen.sha, *self._keys(), self._p(), orjson.dumps(groups))
                try:
                    main, pop, forgotten_v, *dups = await pipe.execute()
                    await self._viewed(dups, fields)
                    break
                except NoScriptError:
                    if attempt:
                        raise
                    await self._r.script_load(self._seen.script)
        flat = dups[0] if dups else []
        seen = {(groups[g - 1][0], groups[g - 1][1][n - 1])
                for g, n in zip(flat[::2], flat[1::2], strict=True)}
        return BatchView(
            {f: int(v) for f, v in zip(fields, main, strict=True) if v is not None},
            {f: int(v) for f, v in zip(fields, pop, strict=True) if v is not None}, seen,
            int(forgotten_v or 0))

    async def commit(self, write: BatchWrite) -> None:
        """Apply ``write`` in one atomic script; :class:`Fenced` (nothing applied) when its
        watermarks are no longer those it expects."""
        if write.empty():
            return
        check_reply(await self._commit(keys=self._decl(), args=self._args(write)))

    def _queue_view(self, pipe: Any, fields: list[str]) -> None:
        """More reads for :meth:`batch_view`'s round trip (the cluster store's)."""

    async def _viewed(self, replies: list[Any], fields: list[str]) -> None:
        """Take the replies of :meth:`_queue_view` from the front of ``replies``."""

    def _args(self, write: BatchWrite) -> list[Any]:
        return write.args(self._p(), half_life_s=self.half_life_s,
                          covisit_cap=self.covisit_cap)

    async def ingest(self, events: Sequence[IngestItem]) -> None:
        """Count (event_id, item_id, ts, partners, scale) in trending and co-visitation
        (no watermark: for seeding tests and tools; the worker commits whole batches)."""
        await self.commit(BatchWrite(trending=[(i, float(t)) for _, i, t, _, _ in events],
                                     visits=[(i, ps, sc) for _, i, _, ps, sc in events
                                             if ps]))

    async def add_covisits(self, visits: Sequence[Visit], backward: float = 1.0) -> None:
        """Co-visitation increments of (item, partners, scale) visits (see the script)."""
        await self.commit(BatchWrite(visits=list(visits), backward=backward))

    # -- candidates and lists -----------------------------------------------------------
    async def fetch_candidates(self, items: Iterable[str], per_item: int, n_trending: int,
                               content: bool = True) -> Candidates:
        """Co-visitation rows, content-similar rows (``cs:{item}``, written by the scorer's
        text encoder) of ``items``, the trending list and the out-of-stock set."""
        items = list(dict.fromkeys(items))
        async with self._r.pipeline(transaction=False) as pipe:
            self._queue_candidates(pipe, items, per_item, n_trending, content)
            res = await pipe.execute()
        return self._parse_candidates(res, items, content)

    def _queue_candidates(self, pipe: Any, items: list[str], per_item: int, n_trending: int,
                          content: bool) -> None:
        for i in items:
            pipe.zrevrange(self.key("cv:" + i), 0, per_item - 1, withscores=True)
        if content:
            for i in items:
                pipe.zrevrange(self.key("cs:" + i), 0, per_item - 1, withscores=True)
        pipe.zrevrange(self.key("pop"), 0, n_trending - 1, withscores=True)
        pipe.smembers(self.key("oos"))
        pipe.get(self.key("catalog:v"))

    @staticmethod
    def _parse_candidates(res: list[Any], items: list[str], content: bool) -> Candidates:
        n = len(items)
        covis = {i: r for i, r in zip(items, res[:n], strict=True) if r}
        sims = ({i: r for i, r in zip(items, res[n:2 * n], strict=True) if r} if content
                else {})
        return Candidates(covis, sims, res[-3], set(res[-2]), int(res[-1] or 0))

    async def read_batch(self, rec_users: Sequence[str], cand_items: list[str] | None = None,
                         per_item: int = 0, n_trending: int = 0, content: bool = False,
                         first: BatchWrite | None = None
                         ) -> tuple[dict[str, list[str]], Candidates | None]:
        """One round trip for a batch: ``first`` committed (the batch's trending, so that
        the candidates include it; :class:`Fenced` if refused), the stored lists of
        ``rec_users`` (as :meth:`read_recs`) and, when ``cand_items`` is given, the
        candidates (as :meth:`fetch_candidates`).

        The script goes by EVALSHA in the pipeline (redis-py's pipelined scripts cost a
        SCRIPT EXISTS round trip per call); if Redis has forgotten it, it is loaded and
        the pipeline run again, which its watermarks make safe."""
        rec_users = list(rec_users)
        write = first if first is not None and not first.empty() else None
        if not rec_users and cand_items is None and write is None:
            return {}, None
        for attempt in (0, 1):
            async with self._r.pipeline(transaction=False) as pipe:
                if write is not None:
                    pipe.evalsha(self._commit.sha, *self._keys(), *self._args(write))
                if rec_users:
                    self._queue_mget(pipe, [self.key("rec:" + u) for u in rec_users])
                if cand_items is not None:
                    self._queue_candidates(pipe, cand_items, per_item, n_trending, content)
                try:
                    res = await pipe.execute()
                    break
                except NoScriptError:
                    if attempt:
                        raise
                    await self._r.script_load(self._commit.script)
        if write is not None:
            check_reply(res.pop(0))
        lists = self._item_ids(rec_users, self._pop_mget(res, len(rec_users))) if rec_users \
            else {}
        cands = (self._parse_candidates(res, cand_items, content) if cand_items is not None
                 else None)
        return lists, cands

    async def write_recs(self, recs: dict[str, bytes]) -> None:
        if not recs:
            return
        await self._mset({self.key("rec:" + u): v for u, v in recs.items()})

    async def user_states(self, user_ids: Sequence[str]) -> list[str | None]:
        """Each user's stored state (``state/users.py``), None where there is none."""
        return await self._mget([self.key("user:" + u) for u in user_ids])

    async def put_user_states(self, states: dict[str, bytes]) -> None:
        await self._mset({self.key("user:" + u): v for u, v in states.items()})

    async def read_recs(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """The item ids of each user's stored list (users without one omitted)."""
        if not user_ids:
            return {}
        raws = await self._mget([self.key("rec:" + u) for u in user_ids])
        return self._item_ids(user_ids, raws)

    # -- keys of several slots (the cluster store sends each to its node) -----------------
    def _keys(self, tag: str = "g") -> list[Any]:
        """EVALSHA's numkeys and keys (:meth:`_decl`)."""
        keys = self._decl(tag)
        return [len(keys), *keys]

    async def _mget(self, keys: list[str]) -> list[Any]:
        return list(await self._r.mget(keys))

    async def _mset(self, mapping: dict[str, Any]) -> None:
        await self._r.mset(mapping)

    def _queue_mget(self, pipe: Any, keys: list[str]) -> None:
        pipe.mget(keys)

    def _pop_mget(self, res: list[Any], n: int) -> list[Any]:
        """The values :meth:`_queue_mget` queued, taken from the front of ``res``."""
        return res.pop(0)

    @staticmethod
    def _item_ids(user_ids: Sequence[str], raws: Sequence[str | None]
                  ) -> dict[str, list[str]]:
        return {u: [i.item_id for i in decode_list(r).items]
                for u, r in zip(user_ids, raws, strict=True) if r}

    async def read_rec(self, user_id: str, n_trending: int
                       ) -> tuple[dict[str, Any] | None, list[tuple[str, float]]]:
        """The user's stored list (or None) and the trending list, in one round trip."""
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.get(self.key("rec:" + user_id))
            pipe.zrevrange(self.key("pop"), 0, n_trending - 1, withscores=True)
            raw, trending = await pipe.execute()
        return (orjson.loads(raw) if raw else None), trending

    def _reader(self) -> RespClient:
        """The lean client for the API's read path (:mod:`streamrec.state.resp`)."""
        if self._fast is None:
            self._fast = RespClient(self.url, tracking=self.cache_lists)
        return self._fast

    async def serve_rec(self, user_id: str, n_trending: int
                        ) -> tuple[StoredList | None, list[tuple[str, float]]]:
        """The user's stored list without its out-of-stock items, or (None, trending) for a
        user without one (:meth:`serve_raw`, decoded)."""
        raw, rec, trending = await self.serve_raw(user_id, n_trending)
        return (decode_list(raw) if raw is not None else rec), trending

    async def serve_raw(self, user_id: str, n_trending: int
                        ) -> tuple[bytes | None, StoredList | None, list[tuple[str, float]]]:
        """(the stored bytes, None, []) when the user's list is served as stored (nothing in
        it sold out since it was made), else (None, the list without its sold-out items
        or None, trending): the API renders the stored bytes once per change.

        Usually one round trip of two plain reads, or none with ``cache_lists``: the list,
        and when the newest current sellout happened. Only a new user, or a list made
        before (or up to ``CLOCK_SKEW_S`` after) that sellout, takes a second one: the
        serving script, which filters in Redis. The script alone for every request cost
        ~40% of the API's requests/s, in Redis's CPU."""
        fast = self._reader()
        key, oos_at = self.key("rec:" + user_id), self.key("oos_at")
        newest = ("ZREVRANGE", oos_at, 0, 0, "WITHSCORES")
        raw = fast.lookup(key, "GET", key)                 # kept by tracking, or MISS
        last = fast.lookup(oos_at, *newest)
        if raw is MISS or last is MISS:                    # both leave in one write
            got = fast.send_kept(key, "GET", key) if raw is MISS else None
            read = fast.send_kept(oos_at, *newest) if last is MISS else None
            raw = raw if got is None else await got
            last = last if read is None else await read
        if raw is not None:
            # RESP2 [member, score]; RESP3 (tracking) [[member, score]]
            when = (last[0][1] if isinstance(last[0], list) else last[1]) if last else None
            if when is None or float(when) < made_at(raw) - CLOCK_SKEW_S:
                return raw, None, []
        args = (self.prefix, user_id, n_trending, CLOCK_SKEW_S)
        try:
            raw, rest = await fast.execute("EVALSHA", self._serve.sha, 0, *args)
        except NoScriptError:
            raw, rest = await fast.execute("EVAL", self._serve.script, 0, *args)
        if raw is None:
            return None, None, [(rest[j].decode(), float(rest[j + 1]))
                                for j in range(0, len(rest), 2)]
        rec = decode_list(raw)
        if rest:
            gone = {n - 1 for n in rest}      # Lua positions are 1-based
            rec.items = [it for n, it in enumerate(rec.items) if n not in gone]
            return None, rec, []
        return raw, None, []
