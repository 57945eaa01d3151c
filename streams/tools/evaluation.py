"""What ``streamrec evaluate`` installs into a worker from outside: the serving worker
has no evaluation settings.

An :class:`Evaluation` given to a :class:`~.processor.Processor` changes three things:

- **exact order**: each batch is processed in runs (in stream order) holding at most one
  event per user, so every event is judged against the list made after the user's
  previous event (the per-event protocol), and each run's shared effects are written
  before the next run is ranked;
- **a judging window**: events before ``judge_from`` are learned from, not judged (e.g.
  the events a transformer was trained on);
- **inline River**: the worker trains its own River models, test then train, instead of
  reading the learner's snapshots (a separate learner would run ahead of the judged
  worker and leak future events into its scores).

Transformer scores without a deadline are the other evaluation part; they are a
``Scoring`` (``streams/scorer.py``'s ``InlineScoring``), given to the processor like the
serving client.

The broker path starts each configuration's worker with ``python -m
streamrec.streams.tools.evaluation PLAN`` (:func:`main`): the serving app with a plan
installed.

>>> plan = Plan(judge_from=10.0)
>>> Plan.from_json(plan.to_json()) == plan
True
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from streamrec.models.events import CatalogChange, Interaction
from streamrec.models.prequential import split_runs
from streamrec.state.protocols import CatalogState
from streamrec.streams.messages import Message

log = logging.getLogger(__name__)
Run = list[tuple[Message, Interaction]]


@dataclass(frozen=True)
class Plan:
    """What an evaluation installs (plain data: it travels to a worker as JSON)."""

    exact: bool = True
    judge_from: float = 0.0
    river: bool = False           # train River inline
    model_dir: str = ""           # score every list with this model, without a deadline
    seed: int = 7

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, raw: str) -> Plan:
        return cls(**orjson.loads(raw))


class Evaluation:
    """The evaluation hooks of one processor."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.river: Any = None
        if plan.river:
            from streamrec.models.online_learner import OnlineLearner
            self.river = OnlineLearner(seed=plan.seed)
        self._primed = False

    def scoring(self) -> Any:
        """The inline transformer scoring of ``model_dir`` (None without one)."""
        if not self.plan.model_dir:
            return None
        from streamrec.streams.scorer import InlineScoring
        return InlineScoring(self.plan.model_dir)

    def judged(self, ts: float) -> bool:
        return ts >= self.plan.judge_from

    def runs(self, valid: Run) -> list[Run]:
        """The batch as processed: whole, or (exact) in stream-order runs without a
        repeated user. Events before ``judge_from`` stay one run: they need no per-event
        lists."""
        if not self.plan.exact:
            return [valid]
        cut = next((n for n, (_, ev) in enumerate(valid) if ev.ts >= self.plan.judge_from),
                   len(valid))
        return ([valid[:cut]] if cut else []) + split_runs(valid[cut:],
                                                           key=lambda x: x[1].user_id)

    async def prime(self, store: CatalogState) -> None:
        """Give inline River the catalog already in the store, once, so the first events
        get their category and price features even if the catalog agent lags."""
        if self.river is None or self._primed:
            return
        self._primed = True
        ids = sorted(await store.all_items(limit=10**9))
        for i, d in (await store.catalog_info(ids)).items():
            self.river.catalog_change(CatalogChange(i, d.get("stock"), d.get("price"),
                                                    d.get("category"), d.get("title")))

    def learn(self, events: Sequence[Interaction]) -> None:
        """Train inline River on the run's events (after they were judged)."""
        if self.river is not None:
            for ev in events:
                self.river.learn(ev)

    def catalog(self, changes: Sequence[CatalogChange]) -> None:
        if self.river is not None:
            for c in changes:
                self.river.catalog_change(c)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the serving worker (``streams/worker/app.py``) with the plan in ``argv[0]``
    installed (settings come from ``STREAMREC_*`` as for ``streamrec worker``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    plan = Plan.from_json(argv[0])
    from streamrec.streams.settings import Settings
    from streamrec.streams.worker.app import Worker
    worker = Worker(Settings.from_env())
    worker.install(Evaluation(plan))
    worker.run()


if __name__ == "__main__":
    main()
