"""The worker role: the catalog agent and the event batches, from topic to rec:{user}."""

from __future__ import annotations

import os

from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings


def main(settings: Settings) -> int:
    """Run a worker with ``settings`` until it is stopped.

    Faust declares its app, topics and agents when ``worker/app.py`` is imported, from
    the ``STREAMREC_*`` env vars: ``settings`` is put there first (secrets included, for
    this process and its children only)."""
    if settings.river_weight > 0 and not settings.snapshot_key:
        raise StreamrecError(
            "STREAMREC_SNAPSHOT_KEY is not set: workers load only River snapshots signed "
            "with it (set the learner's key, 16+ characters), or set "
            "STREAMREC_RIVER_WEIGHT=0 to run without River")
    os.environ.update(settings.to_env())
    from streamrec.streams.worker.app import run
    run()
    return 0
