"""What the worker does with one batch of event messages (kept apart from Faust's agents).

Per batch, in three phases:

- **read**: decode and validate (bad ones to the DLQ: ``streams/messages.py``); the
  partitions' watermarks and recent event ids (skip what was applied:
  ``state/lua/commit.lua``); catalog membership (``streams/worker/catalog_gate.py``); the users'
  states, their stored lists and the candidates, with the batch's trending written first;
- **rank**: every touched user's list once (bursts coalesce): candidates, filters, blend,
  learned ranker, River, transformer, rules, diversity, exploration, top-K;
- **write**: one atomic script with every effect and the new watermarks; then the lists
  to ``recommendations``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamrec.models.covisit import partners, time_weight
from streamrec.models.events import CatalogChange, Interaction
from streamrec.models.prequential import Tally, bucket_of, judge
from streamrec.models.userstate import UserState
from streamrec.state.batch import BatchWrite, Fenced, Impressions
from streamrec.state.protocols import Store
from streamrec.state.users import UserStore
from streamrec.streams import schemas
from streamrec.streams.messages import Message, advance
from streamrec.streams.outage import OUTAGES
from streamrec.streams.records import TOPIC_IMPRESSIONS
from streamrec.streams.settings import Settings
from streamrec.streams.validate import Rejection, parse_catalog
from streamrec.streams.worker.admission import Admission
from streamrec.streams.worker.catalog_gate import CatalogGate
from streamrec.streams.worker.forgotten import Forgotten
from streamrec.streams.worker.list_maker import ListMaker, Output
from streamrec.streams.worker.read_cache import ReadCache
from streamrec.streams.worker.scoring_client import Scoring

if TYPE_CHECKING:     # installed by `streamrec evaluate` only
    from streamrec.streams.tools.evaluation import Evaluation

log = logging.getLogger(__name__)

SEEN_CAP = 2000


@dataclass
class _Batch:
    """What a batch carries from run to run: per-user state, each user's newest list
    (judging reads it from here, not Redis) and the outputs to publish at the end."""

    states: dict[str, UserState] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    newest: dict[str, float] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    out: dict[str, Output] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)   # topic:partition:offset of the
                                                           # user's newest event
    pop_marks: dict[str, int] = field(default_factory=dict)   # trending's watermarks
    pop_floor: dict[str, int] = field(default_factory=dict)   # and those to skip below
    rewards: list[bytes] = field(default_factory=list)   # for the impressions topic
    rejected: Counter[str] = field(default_factory=Counter)  # sent to the DLQ, by kind
    duplicates: int = 0        # repeated event ids, dropped
    forgotten: int = 0         # events of forgotten users, skipped
    tally: Tally = field(default_factory=Tally)          # prequential judging
    curve: dict[int, Tally] = field(default_factory=dict)


Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]  # (topic, key, value)


class Processor:
    """Processes batches of event and catalog messages for one worker."""

    def __init__(self, settings: Settings, store: Store,
                 users: UserStore, send: Send, worker_id: str = "w",
                 scoring: Scoring | None = None, evaluation: Evaluation | None = None) -> None:
        self.settings = settings
        self.store = store
        self.users = users
        self.send = send
        self.worker_id = worker_id
        self._recs = settings.topic("recommendations")
        self._impressions = settings.topic(TOPIC_IMPRESSIONS)
        self.catalog = CatalogGate(store, settings.serving.unknown_item_wait_ms)
        self.admission = Admission(settings, send, self.catalog)
        self.cache = ReadCache(store, settings)
        self.forgotten = Forgotten(store, self._drop_user)
        # the rank phase; with an evaluation installed (streams/tools/evaluation.py, by
        # `streamrec evaluate` only): exact order, a judging window, inline River
        self.lists = ListMaker(settings, store, self.cache, scoring, evaluation)
        self.evaluation = evaluation
        self._window_start = time.monotonic()
        self._window_events = 0
        self.rate = 0.0
        self.lag = 0
        self.partition_lag: dict[str, int] = {}   # "topic:partition" -> messages behind
        self.highwater: dict[str, int] = {}   # field -> end of the partition's log (consumer)
        self.skipped = 0    # messages below the watermarks (applied before): not applied again
        self.fenced = 0     # batches not written: another worker had moved the watermarks
        self.last_error = ""    # the last message quarantined, and why

    def install(self, evaluation: Evaluation | None) -> None:
        """Install (or remove) an evaluation's hooks (``streams/tools/evaluation.py``)."""
        self.evaluation = self.lists.evaluation = evaluation

    # -- events ------------------------------------------------------------------------
    async def process_events(self, msgs: Sequence[Message]) -> int:
        """Handle a batch of event messages; returns the number of valid events applied.

        A message that makes the batch fail (any error but an outage, which the caller
        waits out) is found by applying the batch in halves, and goes to the DLQ with the
        error; the rest are applied (the watermarks make the retries safe)."""
        try:
            return await self._apply(msgs)
        except OUTAGES:
            raise
        except Exception as exc:  # noqa: BLE001 - quarantined below, never fatal
            if len(msgs) == 1:
                await self._quarantine(msgs[0], exc)
                return 0
            log.warning("a batch of %d events failed (%r): applied in halves to find the "
                        "message", len(msgs), exc)
            mid = len(msgs) // 2      # halves keep each partition's order
            return await self.process_events(msgs[:mid]) + \
                await self.process_events(msgs[mid:])

    async def _quarantine(self, m: Message, exc: BaseException) -> None:
        """Send ``m`` to the DLQ with the error it raised; count it once, with its offset."""
        log.exception("event %s[%d]@%d failed; sent to the DLQ", m.topic, m.partition,
                      m.offset, exc_info=exc)
        marks, _ = await self.store.watermarks([m.field])
        if m.offset < marks.get(m.field, -1):
            return
        reason = f"error while applying the event: {type(exc).__name__}: {exc}"
        self.last_error = f"{m.topic}[{m.partition}]@{m.offset}: {reason}"[:500]
        await self.admission.reject(m, reason, "apply_error")
        try:
            await self.store.commit(BatchWrite(
                watermarks=advance([m], marks), metrics=self.store.metrics_payload(
                    events=0, dlq=1, dlq_reasons={"apply_error": 1}, recs=0, catalog=0,
                    latencies_ms=(),
                    worker=self.worker_id, worker_info=self._info_now())))
        except Fenced:
            pass

    def _drop_user(self, user_id: str) -> None:   # forgotten: its state, its last list
        self.users.discard(user_id)
        self.lists.last_lists.pop(user_id, None)

    def _floors(self, marks: dict[str, int], quiet: bool = False) -> dict[str, int]:
        """The watermarks to skip below: those of partitions whose log now ends before
        them (``highwater``, from the consumer) are dropped: the topic was deleted and
        made again (offsets start at 0 again), and its events are new."""
        out = {}
        for f, mark in marks.items():
            end = self.highwater.get(f)
            if end is not None and end < mark:
                if not quiet:
                    log.warning("partition %s ends at offset %d, before its watermark %d: "
                                "the topic was made again; its events are applied as new",
                                f, end, mark)
                continue
            out[f] = mark
        return out

    def _info_now(self) -> dict[str, Any]:
        return {"events_per_s": round(self.rate, 1), "lag": self.lag, "ts": time.time(),
                "partitions": dict(self.partition_lag), "ranker": self.lists.ranker_weights()}

    async def _apply(self, msgs: Sequence[Message]) -> int:
        """Apply a batch, exactly once, in three phases: read, rank, write.

        The watermarks of the batch's partitions (and the recent event ids of its events)
        are read first; messages below them (applied before a crash, or by another
        worker) and repeated event ids are skipped, and all the batch's effects are
        written with the new watermarks by one atomic script (``state/lua/commit.lua``).
        Under an evaluation (``streams/tools/evaluation.py``) the batch is processed in runs
        holding at most one event per user, each run's shared effects written before the
        next is ranked; only each user's final list of the batch is published."""
        if self.evaluation is not None:
            await self.evaluation.prime(self.store)
        valid, write, batch = await self._read(msgs)
        # Evaluation keeps the strict order: learn from an event (its run's shared
        # effects are written at once), then rank. Serving writes everything at the end.
        ev_hooks, n_fresh = self.evaluation, 0
        for run in ev_hooks.runs(valid) if ev_hooks is not None else [valid]:
            n_fresh += await self._process_run(run, batch, write, defer=ev_hooks is None)
        return await self._write(len(msgs), write, batch, n_fresh)

    async def _read(self, msgs: Sequence[Message]
                    ) -> tuple[list[tuple[Message, Interaction]], BatchWrite, _Batch]:
        """Read: decode, skip what was applied, screen, load the users' states."""
        s = self.settings
        parsed = self.admission.parse(msgs)
        ids: dict[str, list[str]] = {}
        if s.serving.dedup_window:
            for m, ev in parsed:
                if isinstance(ev, Interaction):
                    ids.setdefault(m.field, []).append(ev.event_id)
        view = await self.store.batch_view(sorted({m.field for m in msgs}), ids)
        await self.forgotten.refresh(view.forgotten_version)
        floor = self._floors(view.marks)
        todo = [(m, ev) for m, ev in parsed if m.offset >= floor.get(m.field, -1)]
        self.skipped += len(msgs) - len(todo)
        write = BatchWrite(watermarks=advance([m for m, _ in todo], view.marks),
                           backward=s.ranking.covisit_backward, id_window=s.serving.dedup_window)
        todo, n_forgotten = self.forgotten.skip(todo)   # their offsets advance all the same
        valid, rejected, duplicates = await self.admission.screen(todo, view.seen)
        if s.serving.dedup_window:
            write.event_ids = [(m.field, m.offset, ev.event_id) for m, ev in valid]
        valid, unknown = await self.admission.in_catalog(valid)
        await self.users.load(ev.user_id for _, ev in valid)
        batch = _Batch(pop_marks=view.pop_marks, rejected=rejected + unknown,
                       duplicates=duplicates, forgotten=n_forgotten,
                       pop_floor=self._floors(view.pop_marks, quiet=True))
        return valid, write, batch

    async def _write(self, n_msgs: int, write: BatchWrite, batch: _Batch, n_fresh: int
                     ) -> int:
        """Write: every effect, state, list and counter with the new watermarks in one
        script; then the lists to ``recommendations``."""
        for uid, st in batch.states.items():       # one write per touched user
            self.users[uid] = st.to_json()
        self._tick(n_msgs)
        now = time.time()     # the lists are written now (latency: produced -> written)
        write.metrics = self.store.metrics_payload(
            events=n_fresh, dlq=batch.rejected.total(), dlq_reasons=batch.rejected,
            recs=len(batch.out), catalog=0,
            duplicates=batch.duplicates, forgotten=batch.forgotten,
            latencies_ms=[(now - batch.newest[u]) * 1000.0 for u in batch.out
                          if batch.newest[u] > 0],
            worker=self.worker_id, worker_info=self._info_now(),
            tally=batch.tally, curve=batch.curve, **self.lists.take_counts())
        write.sets.update(("user:" + u, v) for u, v in self.users.take_dirty().items())
        write.sets.update(("rec:" + u, o.payload) for u, o in batch.out.items())
        self._add_impressions(write, batch.out)
        try:
            await self.store.commit(write)
        except Fenced as exc:
            if exc.current != dict((f, n) for f, _, n in write.watermarks).get(exc.field):
                # another worker owns these partitions now
                log.warning("batch not written: %s; its users are read again", exc)
                self.fenced += 1
                self.users.clear()
                return 0
            # else our own write landed and the reply was lost (a retried timeout)
        for uid, o in batch.out.items():
            await self.send(self._recs, uid.encode(), o.payload)
            if o.logged is not None:
                await self.send(self._impressions, uid.encode(), o.logged)
        for r in batch.rewards:
            await self.send(self._impressions, None, r)
        return n_fresh

    def _observe(self, valid: list[tuple[Message, Interaction]], batch: _Batch,
                 effects: BatchWrite, info: dict[str, dict[str, Any]]
                 ) -> tuple[dict[str, UserState], list[bool]]:
        """Each event into its user's state, and its shared effects (co-visitation,
        rewards, clicks) into ``effects``; returns the touched users' states and, per
        event, whether it is judged if its user has a list (new item, or JUDGE_REPEATS)."""
        s = self.settings
        states, seen = batch.states, batch.seen
        touched: dict[str, UserState] = {}
        judgeable: list[bool] = []
        for m, ev in valid:
            st = states.get(ev.user_id)
            if st is None:
                st = states[ev.user_id] = UserState.from_json(self.users.get(ev.user_id))
                seen[ev.user_id] = set(st.seen)
            touched[ev.user_id] = st
            repeat = ev.item_id in seen[ev.user_id]
            judgeable.append(not repeat or s.evaluation.judge_repeats)
            self.lists.revisits.observe(ev.kind, repeat)
            seen[ev.user_id].add(ev.item_id)
            pairs = partners(ev.item_id, st.recent, s.ranking.covisit_window)
            if pairs:
                effects.visits.append(
                    (ev.item_id, pairs, time_weight(ev.ts, s.ranking.covisit_half_life_s)))
            if ev.rec_id and ev.kind in ("click", "purchase"):
                value = ev.price * ev.quantity if ev.price else 1.0
                effects.rewards.append((ev.rec_id, ev.kind, value))
                batch.rewards.append(schemas.encode(schemas.ImpressionReward(
                    ev.rec_id, ev.item_id, ev.event_id, ev.kind, ev.ts, value)))
                if s.ranking.explore and ev.kind == "click":   # item-level rewards for exploration
                    effects.clicks.append(ev.item_id)
            st.apply(ev, info.get(ev.item_id), recent_cap=s.ranking.recent_items,
                     seen_cap=SEEN_CAP)
            batch.newest[ev.user_id] = max(batch.newest.get(ev.user_id, 0.0), m.timestamp)
            batch.origin[ev.user_id] = m.field + f":{m.offset}"
        return touched, judgeable

    async def _process_run(self, valid: list[tuple[Message, Interaction]], batch: _Batch,
                           write: BatchWrite, defer: bool) -> int:
        """Judge, update state, learn, rank the touched users again. The shared effects
        (trending, co-visitation, rewards) go into ``write``, or with ``defer`` off into
        Redis before ranking. Returns the number of events."""
        s = self.settings
        unread = sorted({ev.user_id for _, ev in valid} - batch.lists.keys())
        effects = write if defer else BatchWrite(backward=s.ranking.covisit_backward)
        # trending first, in the round trip that reads the candidates (so they include
        # it), under watermarks of its own: a crash between the two writes replays the
        # batch without counting its trending twice
        pops = [(m, ev) for m, ev in valid if m.offset >= batch.pop_floor.get(m.field, -1)]
        first = BatchWrite(watermarks=advance([m for m, _ in pops], batch.pop_marks),
                           trending=[(ev.item_id, ev.ts) for _, ev in pops],
                           watermark_hash="wm:pop")
        info = await self.cache.catalog_info({ev.item_id for _, ev in valid})  # profiles
        touched, judgeable = self._observe(valid, batch, effects, info)
        # One round trip: the lists to judge against and (when the effects are deferred,
        # so that nothing else must land first) the candidates.
        heads = [i for st in touched.values() for i in st.recent[: s.ranking.covisit_window]]
        need = self.cache.rows_needed(heads) if defer else None
        stored, got = await self.store.read_batch(unread, need, s.ranking.candidates_per_item,
                                                  4 * s.ranking.k,
                                                  content=s.ranking.content_weight > 0,
                                                  first=first)
        batch.pop_marks.update((f, nxt) for f, _, nxt in first.watermarks)
        batch.pop_floor.update((f, nxt) for f, _, nxt in first.watermarks)
        lists = {**stored, **batch.lists}
        for (_, ev), j in zip(valid, judgeable, strict=True):
            v = self._judge(ev, lists) if j else None
            if v is not None:
                batch.tally.add(*v[1:])
                batch.curve.setdefault(v[0], Tally()).add(*v[1:])
        cands = self.cache.assemble(got, need, heads) if got is not None else None
        if not defer:
            await self.store.commit(effects)
        if self.lists.ranker is not None:   # test (judged above), then train the ranker
            for (_, ev), j in zip(valid, judgeable, strict=True):
                if j:
                    self.lists.learn_ranker(ev.user_id, ev.item_id)
        if self.evaluation is not None:  # test (judged above), train, then the next lists
            self.evaluation.learn([ev for _, ev in valid])
        out = await self.lists.recommend(touched, batch.newest, cands, batch.origin)
        batch.out.update(out)
        batch.lists.update({u: o.top for u, o in out.items()})
        return len(valid)

    def _judge(self, ev: Interaction, lists: dict[str, list[str]]
               ) -> tuple[int, float, float, float] | None:
        """Prequential ranking quality of an event (``_observe`` says which are judged),
        against the user's list held before it; users without a list yet are not judged.
        Under an evaluation, events before its ``judge_from`` are not judged (a warm-up,
        e.g. the data a transformer was trained on). Returns (curve bucket, hit, reciprocal
        rank, NDCG) or None when not judged."""
        if ev.user_id not in lists or (self.evaluation is not None
                                       and not self.evaluation.judged(ev.ts)):
            return None
        return (bucket_of(ev.ts, self.settings.evaluation.prequential_bucket_s),
                *judge(ev.item_id, lists[ev.user_id], self.settings.ranking.k))

    @staticmethod
    def _add_impressions(write: BatchWrite, outputs: dict[str, Output]) -> None:
        """The impressions of the batch's lists: under a running experiment, and the
        items exploration showed."""
        write.shown += [i for o in outputs.values() for i in o.shown]
        for o in outputs.values():
            exp = o.experiment
            if exp is not None and o.impression is not None:
                if write.impressions is None:
                    write.impressions = Impressions(exp.name, int(exp.attribution_window_s),
                                                    float(exp.reward_click),
                                                    exp.reward_purchase)
                write.impressions.lists.append(o.impression)

    # -- catalog -----------------------------------------------------------------------
    async def process_catalog(self, msgs: Sequence[Message]) -> int:
        changes: list[CatalogChange] = []
        rejected: Counter[str] = Counter()
        for m in msgs:
            c = parse_catalog(m.value, self.settings.serving.max_event_bytes)
            if isinstance(c, Rejection):
                await self.admission.reject(m, c.reason, c.kind)
                rejected[c.kind] += 1
            else:
                changes.append(c)
        await self.store.apply_catalog(changes)
        self.catalog.applied([c.item_id for c in changes])
        if self.evaluation is not None:
            self.evaluation.catalog(changes)
        await self.store.record_batch(
            events=0, dlq=rejected.total(), dlq_reasons=rejected, recs=0,
            catalog=len(changes), latencies_ms=(),
            worker=self.worker_id,
            worker_info=self._info_now())
        return len(changes)

    def _tick(self, n: int) -> None:
        self._window_events += n
        dt = time.monotonic() - self._window_start
        if dt >= 1.0:
            self.rate = self._window_events / dt
            self._window_events = 0
            self._window_start = time.monotonic()
