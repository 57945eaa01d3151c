"""Experiments and exploration arms in Redis (``exps``, ``exp:{name}``, ``expstats:{name}``,
``arm:n``, ``arm:s``): part of :class:`~streamrec.state.redis_store.RedisStore`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from streamrec.models.experiments import Experiment, ExperimentError, VariantStats

from .metrics_payload import parse_stats
from .redis_part import RedisPart

log = logging.getLogger(__name__)


class RedisExperiments(RedisPart):
    """Experiment operations; the store provides ``_r``, ``_exp_status``, ``_p``, ``_decl``,
    ``key``."""

    _exp_status: Any

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
        got = await self._exp_status(keys=self._decl(), args=[self._p(), name, status])
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
        return parse_stats(await self._r.hgetall(self.key("expstats:" + name)))

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
