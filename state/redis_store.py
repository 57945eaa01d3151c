"""Shared state in Redis: popularity, co-visitation, catalog, served lists, metrics.

One :class:`RedisStore` owns one connection pool; every batch of the worker costs a
fixed number of round trips (pipelines and one Lua script), not one per event.

Keys (all under ``redis_prefix``)::

    dedup:{event_id}   event ids already applied (SET NX EX ttl): replays count once
    pop, pop:t0        trending sorted set (forward-decayed weights) and its base time
    cv:{item}          co-visited items of item, sorted set, trimmed to ``covisit_cap``
    catalog, items     item -> JSON {stock, price, category, title}; set of known ids
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

The ingest script touches keys it computes from the prefix, so it needs a single Redis
(or one hash slot); Redis Cluster needs a hash tag in the prefix, e.g. ``{sr}:``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment, VariantStats
from streamrec.models.prequential import Tally

from .resp import RespClient

# a new interaction with an item, the items it pairs with (models.covisit.partners, newest
# first) and its time weight
Visit = tuple[str, Sequence[str], float]
IngestItem = tuple[str, str, float, Sequence[str], float]   # event_id, item, ts, partners, scale
CLOCK_SKEW_S = 5.0    # lists made up to this long after a sellout are still checked
LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

_INGEST_LUA = """
local p = ARGV[1]
local ttl = tonumber(ARGV[2]); local hl = tonumber(ARGV[3])
local events = cjson.decode(ARGV[4])   -- [[event_id, item, ts], ...]
local popk = p .. 'pop'; local t0k = p .. 'pop:t0'
local t0 = tonumber(redis.call('GET', t0k))
local fresh = {}
for e, ev in ipairs(events) do
  local item = ev[2]; local ts = ev[3]
  if redis.call('SET', p .. 'dedup:' .. ev[1], '1', 'NX', 'EX', ttl) then
    fresh[e] = 1
    if not t0 then t0 = ts; redis.call('SET', t0k, string.format('%.6f', ts)) end
    if (ts - t0) / hl > 60 then
      local f = 2 ^ ((t0 - ts) / hl)
      local all = redis.call('ZRANGE', popk, 0, -1, 'WITHSCORES')
      for j = 1, #all, 2 do redis.call('ZADD', popk, tonumber(all[j + 1]) * f, all[j]) end
      t0 = ts; redis.call('SET', t0k, string.format('%.6f', ts))
    end
    redis.call('ZINCRBY', popk, string.format('%.17g', 2 ^ ((ts - t0) / hl)), item)
  else
    fresh[e] = 0
  end
end
return fresh
"""

# Co-visitation increments from visits [[item, [partner, ...], scale], ...]: the d-th
# partner p (newest first) adds scale/d to cv:{p}[item] and backward x that to
# cv:{item}[p], as models.covisit.pairs_for (same float operations, in the same order per
# row); each touched row is trimmed to the cap once it holds more than twice the cap.
# Expanding here rather than sending the pairs saved the worker ~25 us per event.
_COVISIT_LUA = """
local p = ARGV[1]
local cap = tonumber(ARGV[2])
local back = tonumber(ARGV[3])
local touched, order = {}, {}
local function touch(key)
  if not touched[key] then touched[key] = true; order[#order + 1] = key end
end
for _, v in ipairs(cjson.decode(ARGV[4])) do
  local item, scale = v[1], v[3]
  local ikey = p .. 'cv:' .. item
  for d, other in ipairs(v[2]) do
    local w = scale / d
    local okey = p .. 'cv:' .. other
    redis.call('ZINCRBY', okey, w, item)
    redis.call('ZINCRBY', ikey, w * back, other)
    touch(okey)
    touch(ikey)
  end
end
for _, key in ipairs(order) do
  if redis.call('ZCARD', key) > 2 * cap then
    redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
  end
end
return 0
"""

# Serving in one round trip: the user's list and which of its items are out of stock, or
# the trending list for a new user. ``oos_at`` holds when each item sold out; a list is
# only decoded when an item sold out after (or up to ARGV[4] s of clock skew before) it
# was generated: with a few sold-out items in the catalog, decoding every list (and one
# SISMEMBER per item) halved the API's requests/s.
_SERVE_LUA = """
local p = ARGV[1]
local oos = p .. 'oos'
local any_oos = redis.call('SCARD', oos) > 0
local raw = redis.call('GET', p .. 'rec:' .. ARGV[2])
if not raw then
  local t = redis.call('ZREVRANGE', p .. 'pop', 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
  if not any_oos then return {false, t} end
  local keep = {}
  for j = 1, #t, 2 do
    if redis.call('SISMEMBER', oos, t[j]) == 0 then
      keep[#keep + 1] = t[j]; keep[#keep + 1] = t[j + 1]
    end
  end
  return {false, keep}
end
-- only items sold out since the list was made can be in it (the worker leaves out what is
-- sold out when it ranks): usually none, and the list is returned without being decoded
local made = tonumber(string.match(raw, '"generated_at":(-?[%d.]+[eE]?[-+]?%d*)'))
local since = made and redis.call('ZRANGEBYSCORE', p .. 'oos_at', made - tonumber(ARGV[4]),
                                  '+inf') or {}
local gone = {}
if (not made and any_oos) or #since > 0 then
  local sold = {}
  for _, i in ipairs(since) do sold[i] = true end
  for i, it in ipairs(cjson.decode(raw)['items']) do
    local id = tostring(it['item_id'])
    if (made and sold[id]) or (not made and redis.call('SISMEMBER', oos, id) == 1) then
      gone[#gone + 1] = i
    end
  end
end
return {raw, gone}
"""

_REWARD_LUA = """
local p = ARGV[1]
local n = tonumber(ARGV[2])
local applied = 0
for e = 0, n - 1 do
  local imp_id = ARGV[3 + 3 * e]; local kind = ARGV[4 + 3 * e]; local value = ARGV[5 + 3 * e]
  local raw = redis.call('GET', p .. 'imp:' .. imp_id)
  if raw then
    local imp = cjson.decode(raw)
    local key = p .. 'expstats:' .. imp['experiment']
    local v = imp['variant']
    if kind == 'click' then value = imp['rc'] elseif imp['rp'] ~= 'value' then value = 1 end
    if kind == 'purchase' then
      redis.call('HINCRBY', key, v .. ':purchases', 1)
    else
      redis.call('HINCRBY', key, v .. ':clicks', 1)
    end
    redis.call('HINCRBYFLOAT', key, v .. ':reward', value)
    if redis.call('SET', p .. 'impok:' .. imp_id, '1', 'NX', 'EX', imp['window']) then
      redis.call('HINCRBY', key, v .. ':successes', 1)
    end
    applied = applied + 1
  end
end
return applied
"""

# One batch's metrics in one call: counters, the worker's info, served items (into a
# HyperLogLog). As a pipeline of ~15 commands it cost the worker more to encode than Redis
# to run. Floats keep 17 digits (Lua's tostring keeps 14); PFADD in chunks, as unpack()
# has a stack limit.
_METRICS_LUA = """
local p = ARGV[1]
local d = cjson.decode(ARGV[2])
for _, c in ipairs(d['i']) do redis.call('HINCRBY', p .. c[1], c[2], c[3]) end
for _, c in ipairs(d['f']) do
  redis.call('HINCRBYFLOAT', p .. c[1], c[2], string.format('%.17g', c[3]))
end
redis.call('HSET', p .. 'workers', d['w'][1], d['w'][2])
local s = d['s']
for j = 1, #s, 1000 do redis.call('PFADD', p .. 'served', unpack(s, j, math.min(j + 999, #s))) end
return 0
"""


@dataclass
class Candidates:
    covis: dict[str, list[tuple[str, float]]]
    content: dict[str, list[tuple[str, float]]]
    trending: list[tuple[str, float]]
    out_of_stock: set[str]
    catalog_version: int = 0     # ``catalog:v`` read with the rows (0: no change yet)


class RedisStore:
    """Async access to streamrec's shared state. Use as ``async with RedisStore(...)``."""

    def __init__(self, url: str, prefix: str = "", *, dedup_ttl_s: int = 86400,
                 half_life_s: float = 7 * 86400.0, covisit_cap: int = 200) -> None:
        self.url = url
        self.prefix = prefix
        self.dedup_ttl_s = dedup_ttl_s
        self.half_life_s = half_life_s
        self.covisit_cap = covisit_cap
        # RESP2: redis-py 8 turns RESP3 sorted-set scores back into bytes and then floats
        # for its legacy reply shapes; on RESP2 a batch's candidate rows parse ~40% faster
        self._r = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
        self._ingest = self._r.register_script(_INGEST_LUA)
        self._covisit = self._r.register_script(_COVISIT_LUA)
        self._reward = self._r.register_script(_REWARD_LUA)
        self._serve = self._r.register_script(_SERVE_LUA)
        self._metrics = self._r.register_script(_METRICS_LUA)
        self._raw: aioredis.Redis | None = None   # for binary values (model snapshots)
        self._fast: RespClient | None = None      # the API's read path, made on first use
        self._scripts_loaded = False

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

    # -- ingest ------------------------------------------------------------------------
    async def ingest(self, events: Sequence[IngestItem], backward: float = 1.0) -> list[bool]:
        """Count (event_id, item_id, ts, partners, scale) in trending and co-visitation;
        True where new. Duplicates (same event_id within the dedup TTL) change nothing, so
        at-least-once delivery never counts an event twice.

        Two scripts: deduplication and trending (:meth:`ingest_and_read`), then the
        co-visits of the fresh events (:meth:`add_covisits`; the worker sends those itself,
        after its lists are out).
        """
        fresh, _, _ = await self.ingest_and_read([(e, i, t) for e, i, t, _, _ in events], [])
        await self.add_covisits([(i, ps, sc) for new, (_, i, _, ps, sc)
                                 in zip(fresh, events, strict=True) if new], backward)
        return fresh

    async def add_covisits(self, visits: Sequence[Visit], backward: float = 1.0) -> None:
        """Co-visitation increments of (item, partners, scale) visits (see the script).
        Not deduplicated: pass only the visits of events :meth:`ingest` called fresh."""
        if visits:
            await self._covisit(args=[self.prefix, self.covisit_cap, backward,
                                      orjson.dumps(visits)])

    # -- catalog -----------------------------------------------------------------------
    async def apply_catalog(self, changes: Iterable[CatalogChange]) -> None:
        """Merge catalog changes; stock 0 puts the item in ``oos`` at once, >0 takes it out."""
        changes = list(changes)
        if not changes:
            return
        ids = [c.item_id for c in changes]
        current = await self._r.hmget(self.key("catalog"), ids)
        merged: dict[str, dict[str, Any]] = {}
        for c, cur in zip(changes, current, strict=True):
            d = merged.get(c.item_id) or (orjson.loads(cur) if cur else {})
            for name in ("stock", "price", "category", "title"):
                v = getattr(c, name)
                if v is not None:
                    if name == "price" and d.get("price") is not None and d["price"] != v:
                        d["prev_price"] = d["price"]
                    d[name] = v
            merged[c.item_id] = d
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("catalog"), mapping={i: orjson.dumps(d) for i, d in merged.items()})
            pipe.incr(self.key("catalog:v"))
            pipe.sadd(self.key("items"), *merged)
            out = [i for i, d in merged.items() if d.get("stock") == 0]
            back = [i for i, d in merged.items() if d.get("stock") != 0]
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

    async def ingest_and_read(self, events: Sequence[tuple[str, str, float]],
                              rec_users: Sequence[str], cand_items: list[str] | None = None,
                              per_item: int = 0, n_trending: int = 0, content: bool = False
                              ) -> tuple[list[bool], dict[str, list[str]], Candidates | None]:
        """One round trip for a batch: the stored lists of ``rec_users`` (as
        :meth:`read_recs`), dedup + trending of ``events`` (as :meth:`ingest`, without
        pairs), then, when ``cand_items`` is given, the candidates (as
        :meth:`fetch_candidates`, so trending includes these events)."""
        rec_users = list(rec_users)
        if not events and not rec_users and cand_items is None:
            return [], {}, None
        # one orjson payload per batch: encoding thousands of separate script arguments
        # in redis-py cost more than the whole Lua script
        payload = orjson.dumps([[eid, item, float(ts)] for eid, item, ts in events])

        def queue(pipe: Any) -> None:
            if rec_users:
                pipe.mget([self.key("rec:" + u) for u in rec_users])
            if events:
                pipe.evalsha(self._ingest.sha, 0, self.prefix, self.dedup_ttl_s,
                             self.half_life_s, payload)
            if cand_items is not None:
                self._queue_candidates(pipe, cand_items, per_item, n_trending, content)
        res = await self._run_pipeline(queue)
        lists = self._item_ids(rec_users, res.pop(0)) if rec_users else {}
        fresh = [bool(f) for f in res.pop(0)] if events else []
        cands = (self._parse_candidates(res, cand_items, content) if cand_items is not None
                 else None)
        return fresh, lists, cands

    async def _run_pipeline(self, queue: Any) -> list[Any]:
        """Run the commands ``queue(pipe)`` adds, as one pipeline (one round trip). Its
        scripts are called by EVALSHA (loaded once, so no per-call EXISTS); if Redis has
        forgotten them (a restart), they are loaded again and the pipeline rerun: every
        command queued with a script must be safe to repeat (sets, not increments)."""
        for attempt in (0, 1):
            if not self._scripts_loaded:
                for script in (_INGEST_LUA, _METRICS_LUA):
                    await self._r.script_load(script)
                self._scripts_loaded = True
            async with self._r.pipeline(transaction=False) as pipe:
                queue(pipe)
                try:
                    return await pipe.execute()
                except NoScriptError:        # Redis restarted and forgot the scripts
                    self._scripts_loaded = False
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    async def write_batch(self, recs: dict[str, bytes], user_states: dict[str, bytes],
                          metrics: bytes | None = None) -> None:
        """What a batch writes, in one round trip: its users' states (``state/users.py``),
        their new lists (``rec:{user}``) and its metrics (:meth:`metrics_payload`)."""
        def queue(pipe: Any) -> None:
            if user_states:
                pipe.mset({self.key("user:" + u): v for u, v in user_states.items()})
            if recs:
                pipe.mset({self.key("rec:" + u): v for u, v in recs.items()})
            if metrics is not None:       # last: a rerun after NoScriptError repeats the sets
                pipe.evalsha(self._metrics.sha, 0, self.prefix, metrics)
        if recs or user_states or metrics is not None:
            await self._run_pipeline(queue)

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
            raw, rest = await fast.execute("EVAL", _SERVE_LUA, 0, *args)
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

    async def get_experiment(self, name: str) -> Experiment | None:
        raw = await self._r.get(self.key("exp:" + name))
        return Experiment(**orjson.loads(raw)) if raw else None

    async def list_experiments(self) -> list[Experiment]:
        names = sorted(await self._r.smembers(self.key("exps")))
        if not names:
            return []
        raws = await self._r.mget([self.key("exp:" + n) for n in names])
        return [Experiment(**orjson.loads(r)) for r in raws if r]

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

    async def log_impressions(self, exp: Experiment, imps: Sequence[tuple[str, str, str]]
                              ) -> None:
        """(impression_id, variant, user_id) for each list served under ``exp``."""
        if not imps:
            return
        window = int(exp.attribution_window_s)
        async with self._r.pipeline(transaction=False) as pipe:
            for imp_id, variant, user in imps:
                pipe.set(self.key("imp:" + imp_id), orjson.dumps(
                    {"experiment": exp.name, "variant": variant, "user": user, "window": window,
                     "rc": exp.reward_click, "rp": exp.reward_purchase}), ex=window)
                pipe.hincrby(self.key("expstats:" + exp.name), variant + ":impressions", 1)
            await pipe.execute()

    async def apply_rewards(self, rewards: Sequence[tuple[str, str, float]]) -> int:
        """(impression_id, kind, purchase value) of new click/purchase events. A click earns
        the experiment's ``reward_click``; a purchase its value (price * quantity) or 1. An
        impression that expired (outside the attribution window) or is unknown earns nothing;
        ``successes`` counts each impression once."""
        if not rewards:
            return 0
        args: list[Any] = [self.prefix, len(rewards)]
        for imp_id, kind, value in rewards:
            args += (imp_id, kind, repr(float(value)))
        return int(await self._reward(args=args))

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

    async def count_item_impressions(self, items: Sequence[str]) -> None:
        await self._count_each("arm:n", items)

    async def count_item_clicks(self, items: Sequence[str]) -> None:
        await self._count_each("arm:s", items)

    async def _count_each(self, hash_name: str, items: Sequence[str]) -> None:
        """HINCRBY 1 per occurrence, in one pipeline."""
        if items:
            async with self._r.pipeline(transaction=False) as pipe:
                for i in items:
                    pipe.hincrby(self.key(hash_name), i, 1)
                await pipe.execute()

    # -- metrics -----------------------------------------------------------------------
    async def record_batch(self, **counts: Any) -> None:
        """Add one batch's counters (:meth:`metrics_payload`) now."""
        await self._metrics(args=[self.prefix, self.metrics_payload(**counts)])

    @staticmethod
    def metrics_payload(*, events: int, dlq: int, recs: int, catalog: int,
                        latencies_ms: Sequence[float], worker: str,
                        worker_info: dict[str, Any], served: Sequence[str] = (),
                        diversity: Sequence[float] = (), tally: Tally | None = None,
                        curve: dict[int, Tally] | None = None, ranked_lists: int = 0,
                        asked_lists: int = 0, model_lists: int = 0) -> bytes:
        """One batch's counters, for the metrics script: events, DLQ, lists written, lists ranked
        (``asked_lists`` of them sent for transformer scores, ``model_lists`` ranked with
        them), latency histogram, served items, diversity and prequential sums (``preqc``
        holds the curve: ``{bucket}:{field}``)."""
        buckets: dict[str, int] = {}
        for ms in latencies_ms:
            for le in LATENCY_BUCKETS_MS:
                if ms <= le:
                    buckets[str(le)] = buckets.get(str(le), 0) + 1
                    break
            else:
                buckets["+Inf"] = buckets.get("+Inf", 0) + 1
        ints: list[tuple[str, str, int]] = [
            ("metrics", name, n) for name, n in (("events_total", events), ("dlq_total", dlq),
                                                 ("recs_total", recs),
                                                 ("lists_ranked_total", ranked_lists),
                                                 ("lists_asked_total", asked_lists),
                                                 ("lists_model_total", model_lists),
                                                 ("catalog_total", catalog)) if n]
        floats: list[tuple[str, str, float]] = []
        if latencies_ms:
            floats.append(("metrics", "latency_sum_ms", float(sum(latencies_ms))))
            ints.append(("metrics", "latency_count", len(latencies_ms)))
        ints += [("lat", le, n) for le, n in buckets.items()]
        if tally is not None and tally.judged:
            ints += [("metrics", "preq_hits", tally.hits),
                     ("metrics", "preq_judged", tally.judged)]
            floats += [("metrics", "preq_rr", tally.rr), ("metrics", "preq_ndcg", tally.ndcg_sum)]
        for b, t in (curve or {}).items():
            ints += [("preqc", f"{b}:judged", t.judged), ("preqc", f"{b}:hits", t.hits)]
            floats += [("preqc", f"{b}:rr", t.rr), ("preqc", f"{b}:ndcg", t.ndcg_sum)]
        if diversity:
            floats.append(("metrics", "ild_sum", float(sum(diversity))))
            ints.append(("metrics", "ild_count", len(diversity)))
        return orjson.dumps({"i": ints, "f": floats,
                             "w": [worker, orjson.dumps(worker_info).decode()],
                             "s": list(dict.fromkeys(served))})

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
