"""The worker role: the catalog agent and the event batches, from topic to rec:{user}."""

from __future__ import annotations

from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings


def main(settings: Settings) -> int:
    """Run a worker with ``settings`` until it is stopped."""
    if settings.ranking.river_weight > 0 and not settings.serving.snapshot_key:
        raise StreamrecError(
            "STREAMREC_SNAPSHOT_KEY is not set: workers load only River snapshots signed "
            "with it (set the learner's key, 16+ characters), or set "
            "STREAMREC_RIVER_WEIGHT=0 to run without River")
    from streamrec.streams.worker.app import Worker
    Worker(settings).run()
    return 0
