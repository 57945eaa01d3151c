"""What a worker re-reads from Redis while it runs: the newest signed River snapshot and
the experiment in force (each at most once a second)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from streamrec.models.experiments import Experiment, ExperimentError, VariantStats
from streamrec.state import snapshots
from streamrec.state.protocols import ExperimentState, SnapshotState

log = logging.getLogger(__name__)
POLL_S = 1.0


class RiverSnapshots:
    """The learner's newest snapshot, loaded only when its signature checks."""

    def __init__(self, store: SnapshotState, key: str) -> None:
        self.store = store
        self.key = key
        self.model: Any = None
        self.version: str | None = None
        self._seen: str | None = None      # a refused snapshot is not read again
        self._read_at = float("-inf")

    async def current(self) -> Any:
        if time.monotonic() - self._read_at < POLL_S:
            return self.model
        self._read_at = time.monotonic()
        version = await self.store.snapshot_version()
        if version is None or version == self._seen:
            return self.model
        self._seen = version
        raw = await self.store.get_bytes("model:snapshot")
        if raw and not self.key:
            log.error("a River snapshot is in Redis but STREAMREC_SNAPSHOT_KEY is not set: "
                      "it is not loaded (only signed snapshots are)")
        elif raw:
            try:
                snap = await asyncio.to_thread(snapshots.loads, raw, self.key)
            except snapshots.SnapshotRejected as exc:
                log.error("River snapshot %s refused, not unpickled: %s", version, exc)
            else:
                self.model, self.version = snap["model"], str(snap["version"])
        return self.model


class Experiments:
    """The newest running or paused experiment that validates, and its statistics."""

    def __init__(self, store: ExperimentState) -> None:
        self.store = store
        self.current: Experiment | None = None
        self.stats: dict[str, VariantStats] = {}
        self._read_at = float("-inf")
        self._bad: set[str] = set()

    async def read(self) -> Experiment | None:
        if time.monotonic() - self._read_at >= POLL_S:
            self._read_at = time.monotonic()
            live = [e for e in await self.store.list_experiments()
                    if e.status != "stopped" and self._valid(e)]
            self.current = max(live, key=lambda e: e.created_at) if live else None
            self.stats = (await self.store.experiment_stats(self.current.name)
                          if self.current else {})
        return self.current

    def _valid(self, exp: Experiment) -> bool:
        """False (logged once) for a definition that does not validate: one written to
        Redis by hand must not fail every event it would reward."""
        try:
            exp.validate()
            return True
        except (ExperimentError, TypeError) as e:
            if exp.name not in self._bad:
                self._bad.add(exp.name)
                log.error("experiment %r ignored: %s", exp.name, e)
            return False
