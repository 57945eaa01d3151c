"""Shared state in Redis: popularity, co-visitation, catalog, served lists, metrics.

One :class:`RedisStore` owns one connection pool; every batch of the worker costs a
fixed number of round trips (pipelines and one Lua script), not one per event.

Keys (all under ``redis_prefix``)::

    wm                 per topic partition, the next event offset to apply: a batch's
                       effects and its watermarks are written by one script
                       (``lua/commit.lua``), so a replay after a crash counts once
    pop, pop:t0        trending sorted set (forward-decayed weights) and its base time
    cv:{item}          co-visited items of item, sorted set, trimmed to ``covisit_cap``
    catalog, items     item -> JSON {stock, price, category, title}; set of known ids
    catalog:built      set when the catalog was rebuilt from its topic (streams/catalog_rebuild.py)
    catalog:v          catalog version, +1 on every change (workers' caches check it)
    oos                set of out-of-stock items (filtered when ranking and when serving)
    oos_at             when each out-of-stock item sold out (sorted set, unix s)
    rec:{user}         the user's latest recommendation (JSON)
    metrics, lat       counters; latency histogram buckets (event produced -> rec written)
    workers            per worker: JSON {events_per_s, lag, ts}
    exps, exp:{name}   experiment names; each experiment's definition (JSON)
    expstats:{name}    per variant: impressions, successes, clicks, purchases, reward
    imp:{id}           an impression (experiment, variant, user), expiring after the
                       attribution window; impok:{id} marks its first success

The commit script touches keys it computes from the prefix, so it needs a single Redis
(or one hash slot); Redis Cluster needs a hash tag in the prefix, e.g. ``{sr}:``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment, ExperimentError, VariantStats
from streamrec.models.prequential import Tally

from . import catalog_merge
from .batch import BatchWrite, Visit, check_reply, lua
from .metrics_payload import metrics_payload
from .protocols import BatchView, Candidates
from .resp import RespClient

IngestItem = tuple[str, str, float, Sequence[str], float]   # event_id, item, ts, partners, scale
log = logging.getLogger(__name__)
CLOCK_SKEW_S = 5.0    # lists made up to this long after a sellout are still checked

# The scripts are in state/lua/ (serve.lua: why serving rarely needs one; metrics.lua)


class RedisStore:
    """Async access to streamrec's shared state. Use as ``async with RedisStore(...)``."""

    def __init__(self, url: str, prefix: str = "", *, half_life_s: float = 7 * 86400.0,
                 covisit_cap: int = 200) -> None:
        self.url = url
        self.prefix = prefix
        self.half_life_s = half_life_s
        self.covisit_cap = covisit_cap
        # RESP2: redis-py 8 turns RESP3 sorted-set scores back into bytes and then floats
        # for its legacy reply shapes; on RESP2 a batch's candidate rows parse ~40% faster
        self._r = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
        self._commit = self._r.register_script(lua("commit"))
        self._exp_status = self._r.register_script(lua("experiment_status"))
        self._seen = self._r.register_script(lua("seen_ids"))
        self._serve = self._r.register_script(lua("serve"))
        self._metrics = self._r.register_script(lua("metrics"))
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
        if self._raw is None:
            self._raw = aioredis.Redis.from_url(self.url)
        async with self._raw.pipeline(transaction=True) as pipe:
            pipe.set(self.key("model:snapshot"), blob)
            pipe.set(self.key("model:version"), version)
            pipe.set(self.key("model:metrics"), orjson.dumps({**metrics, "version": version}))
            await pipe.execute()

    async def get_bytes(self, name: str) -> bytes | None:
        if self._raw is None:
            self._raw = aioredis.Redis.from_url(self.url)
        return await self._raw.get(self.key(name))

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
                if groups:     # one script, a short reply: ZMSCORE's cost ~30 us per event
                    pipe.evalsha(self._seen.sha, 0, self.prefix, orjson.dumps(groups))
                try:
                    main, pop, *dups = await pipe.execute()
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
            {f: int(v) for f, v in zip(fields, pop, strict=True) if v is not None}, seen)

    async def commit(self, write: BatchWrite) -> None:
        """Apply ``write`` in one atomic script; :class:`Fenced` (nothing applied) when its
        watermarks are no longer those it expects."""
        if write.empty():
            return
        check_reply(await self._commit(args=self._args(write)))

    def _args(self, write: BatchWrite) -> list[Any]:
        return write.args(self.prefix, half_life_s=self.half_life_s,
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

    # -- catalog -----------------------------------------------------------------------
    async def apply_catalog(self, changes: Iterable[CatalogChange]) -> None:
        """Merge catalog changes; stock 0 puts the item in ``oos`` at once, >0 takes it out."""
        changes = list(changes)
        if not changes:
            return
        ids = list(dict.fromkeys(c.item_id for c in changes))
        raws = await self._r.hmget(self.key("catalog"), ids)
        merged = catalog_merge.merge(changes, {i: orjson.loads(r) for i, r in
                                               zip(ids, raws, strict=True) if r})
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("catalog"), mapping={i: orjson.dumps(d) for i, d in merged.items()})
            pipe.incr(self.key("catalog:v"))
            pipe.sadd(self.key("items"), *merged)
            out, back = catalog_merge.stock_moves(merged)
            if out:
                pipe.sadd(self.key("oos"), *out)
                pipe.zadd(self.key("oos_at"), dict.fromkeys(out, time.time()))
            if back:
                pipe.srem(self.key("oos"), *back)
                pipe.zrem(self.key("oos_at"), *back)
            await pipe.execute()

    async def all_items(self, limit: int) -> set[str]:
        """Every catalog item id, or none when the catalog has more than ``limit``."""
        if await self._r.scard(self.key("items")) > limit:
            return set()
        return set(await self._r.smembers(self.key("items")))

    async def known_items(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        flags = await self._r.smismember(self.key("items"), list(ids))
        return {i for i, f in zip(ids, flags, strict=True) if f}

    async def item(self, item_id: str) -> dict[str, Any] | None:
        raw = await self._r.hget(self.key("catalog"), item_id)
        return orjson.loads(raw) if raw else None

    async def catalog_info(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        raws = await self._r.hmget(self.key("catalog"), list(ids))
        return {i: orjson.loads(r) for i, r in zip(ids, raws, strict=True) if r}

    async def embeddings(self, ids: Sequence[str]) -> dict[str, Any]:
        """Item text embeddings (float32 vectors) written by the scorer; absent ids omitted."""
        if not ids:
            return {}
        import numpy as np
        if self._raw is None:
            self._raw = aioredis.Redis.from_url(self.url)
        raws = await self._raw.hmget(self.key("emb"), list(ids))
        return {i: np.frombuffer(r, dtype=np.float16).astype(np.float32)
                for i, r in zip(ids, raws, strict=True) if r}

    async def out_of_stock(self) -> set[str]:
        return set(await self._r.smembers(self.key("oos")))

    async def catalog_built(self) -> bool:
        """Whether the catalog was rebuilt from its topic into this Redis (``catalog:built``:
        absent after Redis lost its data, or on a first start)."""
        return bool(await self._r.exists(self.key("catalog:built")))

    async def mark_catalog_built(self, changes: int) -> None:
        await self._r.set(self.key("catalog:built"), str(changes))

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
                    pipe.evalsha(self._commit.sha, 0, *self._args(write))
                if rec_users:
                    pipe.mget([self.key("rec:" + u) for u in rec_users])
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
        lists = self._item_ids(rec_users, res.pop(0)) if rec_users else {}
        cands = (self._parse_candidates(res, cand_items, content) if cand_items is not None
                 else None)
        return lists, cands

    async def write_recs(self, recs: dict[str, bytes]) -> None:
        if not recs:
            return
        await self._r.mset({self.key("rec:" + u): v for u, v in recs.items()})

    async def user_states(self, user_ids: Sequence[str]) -> list[str | None]:
        """Each user's stored state (``state/users.py``), None where there is none."""
        return list(await self._r.mget([self.key("user:" + u) for u in user_ids]))

    async def put_user_states(self, states: dict[str, bytes]) -> None:
        await self._r.mset({self.key("user:" + u): v for u, v in states.items()})

    async def read_recs(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """The item ids of each user's stored list (users without one omitted)."""
        if not user_ids:
            return {}
        raws = await self._r.mget([self.key("rec:" + u) for u in user_ids])
        return self._item_ids(user_ids, raws)

    @staticmethod
    def _item_ids(user_ids: Sequence[str], raws: Sequence[str | None]
                  ) -> dict[str, list[str]]:
        return {u: [i["item_id"] for i in orjson.loads(r)["items"]]
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
            self._fast = RespClient(self.url)
        return self._fast

    async def serve_rec(self, user_id: str, n_trending: int
                        ) -> tuple[dict[str, Any] | None, list[tuple[str, float]]]:
        """The user's stored list without its out-of-stock items, or (None, trending) for a
        user without one.

        Usually one round trip of two plain reads: the list, and when the newest current
        sellout happened. Only a new user, or a list made before (or up to
        ``CLOCK_SKEW_S`` after) that sellout, takes a second one: the serving script, which
        filters in Redis. The script alone for every request cost ~40% of the API's
        requests/s, in Redis's CPU."""
        fast = self._reader()
        got = fast.send("GET", self.key("rec:" + user_id))
        newest = fast.send("ZREVRANGE", self.key("oos_at"), 0, 0, "WITHSCORES")
        raw, last = await got, await newest
        if raw is not None:
            rec = orjson.loads(raw)
            made = rec.get("generated_at")
            if not last or (isinstance(made, int | float)
                            and float(last[1]) < made - CLOCK_SKEW_S):
                return rec, []
        args = (self.prefix, user_id, n_trending, CLOCK_SKEW_S)
        try:
            raw, rest = await fast.execute("EVALSHA", self._serve.sha, 0, *args)
        except NoScriptError:
            raw, rest = await fast.execute("EVAL", self._serve.script, 0, *args)
        if raw is None:
            return None, [(rest[j].decode(), float(rest[j + 1])) for j in range(0, len(rest), 2)]
        rec = orjson.loads(raw)
        if rest:
            gone = {n - 1 for n in rest}      # Lua positions are 1-based
            rec["items"] = [it for n, it in enumerate(rec["items"]) if n not in gone]
        return rec, []

    # -- experiments -------------------------------------------------------------------
    async def create_experiment(self, exp: Experiment) -> bool:
        """Store a new experiment; False if the name is taken."""
        ok = await self._r.set(self.key("exp:" + exp.name), orjson.dumps(exp.to_dict()), nx=True)
        if ok:
            await self._r.sadd(self.key("exps"), exp.name)
        return bool(ok)

    async def save_experiment(self, exp: Experiment) -> None:
        await self._r.set(self.key("exp:" + exp.name), orjson.dumps(exp.to_dict()))

    async def set_experiment_status(self, name: str, status: str) -> Experiment | None:
        """Move experiment ``name`` to ``status`` in one atomic step; a stopped experiment
        stays stopped (:class:`ExperimentError`). None when there is no such experiment."""
        got = await self._exp_status(args=[self.prefix, name, status])
        if int(got[0]) == -1:
            return None
        if int(got[0]) == 0:
            raise ExperimentError(f"experiment {name!r} is stopped and cannot be restarted")
        return Experiment(**orjson.loads(got[1]))

    async def get_experiment(self, name: str) -> Experiment | None:
        raw = await self._r.get(self.key("exp:" + name))
        return Experiment(**orjson.loads(raw)) if raw else None

    async def list_experiments(self) -> list[Experiment]:
        names = sorted(await self._r.smembers(self.key("exps")))
        if not names:
            return []
        raws = await self._r.mget([self.key("exp:" + n) for n in names])
        out = []
        for name, r in zip(names, raws, strict=True):
            try:
                d = orjson.loads(r) if r else None
                if isinstance(d, dict):
                    out.append(Experiment(**d))
            except (orjson.JSONDecodeError, TypeError):
                log.error("experiment %r: stored definition unreadable, skipped", name)
        return out

    async def experiment_stats(self, name: str) -> dict[str, VariantStats]:
        raw = await self._r.hgetall(self.key("expstats:" + name))
        out: dict[str, VariantStats] = {}
        for field_, value in raw.items():
            variant, _, stat = field_.rpartition(":")
            vs = out.setdefault(variant, VariantStats())
            setattr(vs, stat, float(value) if stat == "reward" else int(value))
        return out

    async def reset_experiment(self, name: str) -> None:
        await self._r.delete(self.key("expstats:" + name))

    # -- item arms (exploration) --------------------------------------------------------
    async def item_arm_stats(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(impressions, clicks) of items shown in served lists; absent items omitted."""
        if not ids:
            return {}
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hmget(self.key("arm:n"), list(ids))
            pipe.hmget(self.key("arm:s"), list(ids))
            n, c = await pipe.execute()
        return {i: (int(a), int(b or 0)) for i, a, b in zip(ids, n, c, strict=True) if a}

    # -- metrics -----------------------------------------------------------------------
    async def record_batch(self, **counts: Any) -> None:
        """Add one batch's counters (:meth:`metrics_payload`) now."""
        await self._metrics(args=[self.prefix, self.metrics_payload(**counts)])

    metrics_payload = staticmethod(metrics_payload)

    async def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """A worker's (or the learner's) liveness in ``workers``, with ``ts``, read by the
        API's ``/health``."""
        await self._r.hset(self.key("workers"), worker, orjson.dumps(info).decode())

    async def heartbeats(self) -> dict[str, dict[str, Any]]:
        return {k: orjson.loads(v) for k, v in (await self._r.hgetall(self.key("workers"))).items()}

    async def read_model_metrics(self) -> dict[str, Any] | None:
        raw = await self._r.get(self.key("model:metrics"))
        return orjson.loads(raw) if raw else None

    async def read_scorer_metrics(self) -> dict[str, Any] | None:
        raw = await self._r.get(self.key("scorer"))
        return orjson.loads(raw) if raw else None

    async def read_metrics(self) -> tuple[dict[str, float], dict[str, int], dict[str, Any]]:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.key("metrics"))
            pipe.hgetall(self.key("lat"))
            pipe.hgetall(self.key("workers"))
            pipe.pfcount(self.key("served"))
            pipe.scard(self.key("items"))
            m, lat, workers, served, items = await pipe.execute()
        out = {k: float(v) for k, v in m.items()}
        out["served_items"], out["catalog_items"] = float(served), float(items)
        return out, {k: int(v) for k, v in lat.items()}, \
            {k: orjson.loads(v) for k, v in workers.items()}

    async def read_curve(self) -> dict[int, Tally]:
        """The prequential curve: event-time bucket -> sums of its judged events."""
        raw = await self._r.hgetall(self.key("preqc"))
        out: dict[int, Tally] = {}
        for field, v in raw.items():
            b, name = field.split(":")
            t = out.setdefault(int(b), Tally())
            if name == "judged":
                t.judged = int(v)
            elif name == "hits":
                t.hits = int(v)
            elif name == "rr":
                t.rr = float(v)
            else:
                t.ndcg_sum = float(v)
        return dict(sorted(out.items()))
