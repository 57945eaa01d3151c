"""Experiments and exploration arms in memory (``exps``, ``exp:{name}``,
``expstats:{name}``, ``arm:n``, ``arm:s``): part of
:class:`~streamrec.state.memory_store.MemoryStore`, as ``redis_experiments.py`` is of the
Redis store."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from streamrec.models.experiments import Experiment, ExperimentError, VariantStats

from .memory_dicts import MemoryDicts
from .metrics_payload import parse_stats


class MemoryExperiments(MemoryDicts):
    """Experiment operations on the store's dicts."""

    async def create_experiment(self, exp: Experiment) -> bool:
        if ("exp:" + exp.name) in self.strings:
            return False
        await self.save_experiment(exp)
        self.sets["exps"].add(exp.name)
        return True

    async def save_experiment(self, exp: Experiment) -> None:
        self.strings["exp:" + exp.name] = orjson.dumps(exp.to_dict())

    async def set_experiment_status(self, name: str, status: str) -> Experiment | None:
        exp = await self.get_experiment(name)
        if exp is None:
            return None
        if exp.status == "stopped" and status != "stopped":
            raise ExperimentError(f"experiment {name!r} is stopped and cannot be restarted")
        exp.status = status
        await self.save_experiment(exp)
        return exp

    async def get_experiment(self, name: str) -> Experiment | None:
        raw = self.strings.get("exp:" + name)
        return Experiment(**orjson.loads(raw)) if raw else None

    async def list_experiments(self) -> list[Experiment]:
        out = []
        for name in sorted(self.sets["exps"]):
            exp = await self.get_experiment(name)
            if exp is not None:
                out.append(exp)
        return out

    async def experiment_stats(self, name: str) -> dict[str, VariantStats]:
        return parse_stats(self.hashes.get("expstats:" + name, {}))

    async def reset_experiment(self, name: str) -> None:
        self.hashes.pop("expstats:" + name, None)

    async def item_arm_stats(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        n, s = self._hash("arm:n"), self._hash("arm:s")
        return {i: (int(n[i]), int(s.get(i, 0))) for i in ids if n.get(i)}
