"""The rank phase of a batch: what the pure ranking stages (``models/pipeline.py``) need,
read (catalog info, embeddings, exploration arms, the River snapshot, transformer scores),
and each fresh list as it is stored in ``rec:{user}`` and published."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from streamrec.models import pipeline
from streamrec.models.diversity import intra_list_diversity
from streamrec.models.experiments import Experiment, choose_variant, variant_propensity
from streamrec.models.explain import HEADS
from streamrec.models.longterm import SessionState, serving_state
from streamrec.models.ltr import OnlineRanker
from streamrec.models.pipeline import Rows
from streamrec.models.ranking import FEATURES
from streamrec.models.revisits import Revisits
from streamrec.models.userstate import UserState
from streamrec.state.protocols import Candidates, Store
from streamrec.streams import schemas
from streamrec.streams.settings import Settings
from streamrec.streams.worker.live_config import Experiments, RiverSnapshots
from streamrec.streams.worker.read_cache import ReadCache
from streamrec.streams.worker.scoring_client import Scoring

if TYPE_CHECKING:     # installed by `streamrec evaluate` only
    from streamrec.streams.tools.evaluation import Evaluation

POLICY = "covisit+trending"
RANKER_USERS = 20_000   # users whose last candidates (about 6 KB each) a worker keeps to
                        # train its learned ranker on their next event


@dataclass(slots=True)
class Output:
    """A user's freshly ranked list, before it is published."""

    payload: bytes                              # the JSON written to rec:{user} and the topic
    top: list[str]                              # its item ids, best first
    experiment: Experiment | None
    impression: tuple[str, str, str] | None     # (impression id, variant, user) if running
    shown: list[str]                            # items shown by exploration
    logged: bytes | None = None                 # its schemas.Impression, when exploring
                                                # or in a running experiment


class ListMaker:
    """Ranks users' lists for one worker; counts what it ranked until :meth:`take_counts`."""

    def __init__(self, settings: Settings, store: Store, cache: ReadCache,
                 scoring: Scoring | None = None, evaluation: Evaluation | None = None) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.scoring = scoring
        self.evaluation = evaluation
        self.config = pipeline.RankConfig.from_settings(settings.ranking)
        self.revisits = Revisits()     # do users come back to what they viewed?
        self.experiments = Experiments(store)
        self.snapshots = RiverSnapshots(store, settings.serving.snapshot_key.get_secret_value())
        self._rng = np.random.default_rng(settings.serving.seed)
        # learned re-ranking of the blend's candidates, trained on this worker's users: the
        # candidates and features of each user's last list (recently active users only)
        r = settings.ranking
        self.ranker = OnlineRanker(len(FEATURES), warm_up=r.ranker_warm_up,
                                   seed=settings.serving.seed) if r.learned_ranker else None
        self.last_lists: OrderedDict[str, tuple[dict[str, int], np.ndarray]] = OrderedDict()
        self.served: list[str] = []
        self.diversity: list[float] = []
        # lists ranked (with exact order also those a later run replaced: the lists events
        # were judged against), how many were sent for transformer scores (those with
        # candidates, of a variant that uses the model) and got them in time
        self.ranked_lists = self.asked_lists = self.model_lists = 0

    def take_counts(self) -> dict[str, Any]:
        """What was ranked since the last call (for the batch's metrics)."""
        out = {"served": self.served, "diversity": self.diversity,
               "ranked_lists": self.ranked_lists, "asked_lists": self.asked_lists,
               "model_lists": self.model_lists}
        self.served, self.diversity = [], []
        self.ranked_lists = self.asked_lists = self.model_lists = 0
        return out

    def ranker_weights(self) -> dict[str, float]:
        """The learned ranker's weight per feature once it orders lists (else empty)."""
        return self.ranker.weights(FEATURES) if self.ranker and self.ranker.ready else {}

    def learn_ranker(self, user_id: str, item_id: str) -> None:
        """Train the learned ranker on the user's last list: ``item_id`` was chosen."""
        last = self.last_lists.get(user_id)
        row = last[0].get(item_id) if last is not None else None
        if self.ranker is not None and row is not None:
            self.ranker.learn(last[1], row)

    async def recommend(self, states: dict[str, UserState], newest: dict[str, float],
                        cands: Candidates | None = None,
                        origins: dict[str, str] | None = None) -> dict[str, Output]:
        """Recompute the list of each user in ``states`` (the pure stages are in
        ``models/pipeline.py``; this reads what they need). ``cands``: the users'
        candidate rows when already read; ``origins``: the event behind each list (its
        impression id is made from it, so a list made again from a replayed event has the
        same id)."""
        if not states:
            return {}
        s, cfg = self.settings, self.config
        if cfg.exclude_seen and self.revisits.reshow(s.ranking.reshow_repeat_rate):
            cfg = replace(cfg, exclude_seen=False)   # users come back: re-show what they viewed
        if cands is None:
            cands = await self.cache.candidates(
                [i for st in states.values() for i in st.recent[: s.ranking.covisit_window]])
        rows = Rows(cands.covis, cands.trending, cands.out_of_stock, cands.content)
        exp = await self.experiments.read()
        sessions = {uid: serving_state(st.profile) for uid, st in states.items()} \
            if exp is not None and exp.allocation == "session" else {}
        variants = {uid: choose_variant(uid, exp, self.experiments.stats, self._rng,
                                        sessions.get(uid))
                    if exp else None for uid in states}
        plan = pipeline.candidates(cfg, states, rows, variants, self.ranker is not None)
        river = await self._river_model()
        if plan.learned:
            assert self.ranker is not None
            items = {i for u in plan.learned for i, _ in plan.lists[u]} | \
                {i for u in plan.learned for i in plan.heads[u]}
            info = await self.cache.catalog_info(items, cands.catalog_version)
            pipeline.learned_order(plan, self.ranker, rows,
                                   {i: d.get("category") for i, d in info.items()}, states,
                                   {i: d.get("price") for i, d in info.items()},
                                   river, newest)
            self._keep_features(plan.features)
        scores, note = await self._transformer_scores(
            pipeline.score_requests(cfg, plan, states))
        self.ranked_lists += len(states)
        now = time.time()
        items = plan.items(max(2 * s.ranking.k, s.ranking.score_candidates))
        titled = {h for hs in plan.heads.values() for h in hs[:HEADS]} if cfg.explain else set()
        info = await self.cache.catalog_info(items | titled, cands.catalog_version)
        ranked = pipeline.rank(cfg, plan, pipeline.RankInputs(
            info=info, now=now,
            newest=newest, river=river, river_tag=self._river_tag(), scores=scores,
            scoring_note=note,
            vectors=await self.cache.embeddings(items) if s.ranking.content_weight > 0 else None,
            arms=await self.store.item_arm_stats(sorted(items)) if s.ranking.explore else None,
            rng=self._rng, rows=rows))
        self.model_lists += sum(1 for r in ranked.values() if r.scoring == "transformer")
        cats = {i: d.get("category") for i, d in info.items()}
        return {uid: self._output(uid, r, exp, newest, now, (origins or {}).get(uid), cats,
                                  sessions.get(uid))
                for uid, r in ranked.items()}

    def _output(self, uid: str, r: pipeline.Ranked, exp: Experiment | None,
                newest: dict[str, float], now: float, origin: str | None,
                cats: dict[str, Any], session: SessionState | None = None) -> Output:
        """A ranked list as stored and published (``rec:{user}``)."""
        s = self.settings
        self.served += r.top
        self.diversity.append(intra_list_diversity(r.top, cats))
        imp_id = (hashlib.blake2b(f"{origin}|{uid}".encode(), digest_size=16).hexdigest()
                  if origin else uuid.uuid4().hex)
        rec = schemas.StoredList(
            user_id=uid, items=[schemas.ListItem(i, sc, r.reasons[n] if n < len(r.reasons)
                                                 else None)
                                for n, (i, sc) in enumerate(r.items)],
            impression_id=imp_id,
            policy=r.variant or (POLICY if s.ranking.ranking == "blend" else s.ranking.ranking),
            model_version=r.version, generated_at=now, event_ts=newest.get(uid, 0.0),
            experiment=exp.name if exp else None, variant=r.variant, scoring=r.scoring,
            explore="thompson" if s.ranking.explore else None)
        running = exp is not None and exp.status == "running"
        imp = (imp_id, r.variant, uid) if running else None
        logged = self._impression(rec, r, exp if running else None, session) \
            if running or r.shown else None
        return Output(schemas.encode(rec), [i for i, _ in r.items], exp, imp, r.shown, logged)

    def _impression(self, rec: schemas.StoredList, r: pipeline.Ranked,
                    exp: Experiment | None, session: SessionState | None = None) -> bytes:
        """The list's record on the ``impressions`` topic: each shown item's propensity
        at its position (1 without exploration: the ranking is deterministic) and the
        variant's, for off-policy evaluation of other policies and allocations."""
        top = r.shown or r.top
        props = r.propensities or [1.0] * len(top)
        return schemas.encode(schemas.Impression(
            impression_id=rec.impression_id or "", user_id=rec.user_id, ts=rec.generated_at,
            policy=rec.policy, offered=[i for i, _ in r.items],
            items=[schemas.ShownItem(i, j, p)
                   for j, (i, p) in enumerate(zip(top, props, strict=True))],
            experiment=exp.name if exp else None, variant=r.variant if exp else None,
            variants=list(exp.variants) if exp else None,
            variant_propensity=(variant_propensity(exp, self.experiments.stats, r.variant,
                                                   self._rng, session=session)
                                if exp and r.variant else None)))

    def _keep_features(self, features: dict[str, tuple[dict[str, int], np.ndarray]]) -> None:
        """The candidates and features of each user's last learned list, for the ranker to
        train on at the user's next event (recently active users only)."""
        for uid, f in features.items():
            self.last_lists[uid] = f
            self.last_lists.move_to_end(uid)
        while len(self.last_lists) > RANKER_USERS:
            self.last_lists.popitem(last=False)

    async def _transformer_scores(self, ask: dict[str, tuple[list[str], list[str]]]
                                  ) -> tuple[dict[str, dict[str, Any] | None], str]:
        """Transformer scores for ``ask`` (``pipeline.score_requests``), as
        ``{"by_item": {item: score or None}, "model_version"}`` (None where the model does
        not know the item); the note says why a list was ranked without them."""
        if self.scoring is None:
            return {}, "heuristic"
        s = self.settings
        self.asked_lists += len(ask)
        got: dict[str, dict[str, Any] | None] = {}
        errors = set()
        for uid, r in (await self.scoring.score(ask, s.ranking.score_deadline_ms / 1000.0)).items():
            cands = ask[uid][1]
            ok = r is not None and len(r.get("scores") or ()) == len(cands)   # else: fall back
            got[uid] = ({"by_item": dict(zip(cands, r["scores"], strict=True)),
                         "model_version": r.get("model_version", "?")} if ok else None)
            if r is not None and r.get("error"):
                errors.add(r["error"])
        if errors:          # the scorer answered, without scores: e.g. it has no model yet
            return got, f"heuristic: {min(errors)}"
        return got, f"fallback: no transformer scores within {s.ranking.score_deadline_ms} ms"

    async def _river_model(self) -> Any:
        """The live learner (evaluation), or the learner's newest signed snapshot."""
        if self.evaluation is not None and self.evaluation.river is not None:
            return self.evaluation.river
        if self.settings.ranking.river_weight <= 0:
            return None
        return await self.snapshots.current()

    def _river_tag(self) -> str | None:
        live = self.evaluation is not None and self.evaluation.river is not None
        return "inline" if live else self.snapshots.version

