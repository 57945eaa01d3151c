"""Metrics and liveness in Redis (``metrics``, ``lat``, ``preqc``, ``served``, ``workers``,
``model:metrics``, ``scorer``): part of :class:`~streamrec.state.redis_store.RedisStore`."""

from __future__ import annotations

from typing import Any

import orjson

from streamrec.models.prequential import Tally

from .metrics_payload import metrics_payload, parse_curve
from .redis_part import RedisPart


class RedisMetrics(RedisPart):
    """Metrics operations; the store provides ``_r``, ``_metrics``, ``_p``, ``_decl``, ``key``."""

    _metrics: Any

    async def record_batch(self, **counts: Any) -> None:
        """Add one batch's counters (:meth:`metrics_payload`) now."""
        await self._metrics(keys=self._decl(),
                            args=[self._p(), self.metrics_payload(**counts)])

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
            pipe.execute_command("PFCOUNT", self.key("served"))  # (cluster pipelines refuse
            #   pfcount(), which may take keys of several slots)
            pipe.scard(self.key("items"))
            pipe.scard(self.key("oos"))
            m, lat, workers, served, items, oos = await pipe.execute()
        out = {k: float(v) for k, v in m.items()}
        out["served_items"], out["catalog_items"] = float(served), float(items)
        out["sold_out_items"] = float(oos)
        return out, {k: int(v) for k, v in lat.items()}, \
            {k: orjson.loads(v) for k, v in workers.items()}

    async def read_curve(self) -> dict[int, Tally]:
        """The prequential curve: event-time bucket -> sums of its judged events."""
        return parse_curve(await self._r.hgetall(self.key("preqc")))
