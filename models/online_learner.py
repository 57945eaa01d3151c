"""The single-writer learner's state: River models plus the signals their features need.

Pure and picklable: the learner process feeds it events and catalog changes in stream
order and publishes pickled snapshots; workers unpickle a snapshot and only call
:meth:`OnlineLearner.score`, which never changes it.

>>> from streamrec.models.events import CatalogChange, Interaction
>>> L = OnlineLearner(seed=0)
>>> L.catalog_change(CatalogChange("a", stock=3, price=5.0, category="Drama"))
>>> L.learn(Interaction("e1", "view", "u", "a", 0.0))
>>> L.learn(Interaction("e2", "click", "u", "a", 1.0))
>>> L.ctr.n_learned, L.mf.n_learned
(1, 1)

A user forgotten on request loses every vector and signal, and its later events are
skipped until it consents again:

>>> L.forget("u")
['mf', 'ctr', 'affinity']
>>> L.learn(Interaction("e3", "view", "u", "a", 2.0)); "u" in L.mf._model.u_latents
False
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import numpy as np

from .events import CatalogChange, Interaction
from .online import (
    NUMERIC,
    ExposureJoiner,
    ImplicitMF,
    OnlineCTR,
    ctr_features,
    hour_feature,
    item_parts,
)


class OnlineLearner:
    forgotten: set[str] = set()    # (a class default for snapshots older than forgetting)

    def __init__(self, window_s: float = 3600.0, affinity_window: int = 20, seed: int = 0,
                 mf_factors: int = 16, ctr_factors: int = 8) -> None:
        self.window_s = window_s
        self.affinity_window = affinity_window
        self.seed = seed
        self.mf = ImplicitMF(n_factors=mf_factors, seed=seed)
        self.ctr = OnlineCTR(n_factors=ctr_factors, seed=seed)
        self._joiner = ExposureJoiner(window_s=window_s)
        self._catalog: dict[str, dict[str, Any]] = {}
        self._recent_cats: dict[str, deque] = {}
        self._pop: Counter = Counter()
        self.events = 0
        self.forgotten = set()          # users forgotten on request: their events skipped
        self.skipped = 0

    def forget(self, user: str) -> list[str]:
        """Forget ``user`` (``users.forget``): drop its MF vector and bias, its CTR
        feature, its pending exposures and category history, and skip its events from
        now on. Returns what held something of it."""
        self.forgotten = {*self.forgotten, user}
        held = [name for name, gone in (("mf", self.mf.forget(user)),
                                        ("ctr", self.ctr.forget(user)),
                                        ("exposures", self._joiner.forget(user) > 0),
                                        ("affinity", self._recent_cats.pop(user, None)
                                         is not None)) if gone]
        return held

    def consent(self, user: str) -> None:
        """``user`` consented again: its later events are learned."""
        self.forgotten = self.forgotten - {user}

    def catalog_change(self, c: CatalogChange) -> None:
        self.__dict__.get("_parts", {}).pop(c.item_id, None)
        info = self._catalog.setdefault(c.item_id, {})
        if c.price is not None and info.get("price") not in (None, c.price):
            info["prev_price"] = info["price"]
        for name in ("stock", "price", "category", "title"):
            v = getattr(c, name)
            if v is not None:
                info[name] = v

    def __getstate__(self) -> dict[str, Any]:
        """Snapshots leave out the scoring cache of item parts (rebuilt on use)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_parts", "_parts_of")}

    def _affinity(self, user: str, category: str | None) -> float:
        q = self._recent_cats.get(user)
        if not q or category is None:
            return 0.0
        return sum(1 for c in q if c == category) / len(q)

    def features(self, user: str, item: str, ts: float) -> dict[str, float]:
        info = self._catalog.get(item)
        cat = info.get("category") if info else None
        return ctr_features(user, item, ts, info, self._affinity(user, cat), self._pop[item])

    def learn(self, ev: Interaction) -> None:
        """Learn one event (test-then-train for the CTR model); a forgotten user's is
        skipped."""
        if ev.user_id in self.forgotten:
            self.skipped += 1
            return
        self.events += 1
        if ev.kind == "view":
            examples = self._joiner.exposure(ev.user_id, ev.item_id, ev.ts,
                                             self.features(ev.user_id, ev.item_id, ev.ts))
            self.mf.learn_one(ev.user_id, ev.item_id)
            self._pop[ev.item_id] += 1
            cat = (self._catalog.get(ev.item_id) or {}).get("category")
            q = self._recent_cats.setdefault(ev.user_id, deque(maxlen=self.affinity_window))
            q.append(cat)
        else:
            examples = self._joiner.outcome(ev.user_id, ev.item_id, ev.ts)
        for x, y in examples:
            self.ctr.learn_one(x, y)

    def score_parts(self, user: str, items: list[str], ts: float
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(MF preference, P(click)) per item. Read-only."""
        mf = self.mf.score(user, items)
        q = self._recent_cats.get(user)
        parts = self._item_rows()
        got = [parts.get(item) or self._add_parts(item) for item in items]
        rows, numeric = np.array([g[0] for g in got], dtype=np.intp), \
            np.array([g[1] for g in got], dtype=float)
        numeric = numeric.reshape(len(items), len(NUMERIC))  # (log price, drop, 0, 0) each
        if q:
            counts = Counter(q)
            numeric[:, 2] = [counts.get(g[2], 0) / len(q) if g[2] is not None else 0.0
                             for g in got]
        pop = self._pop
        numeric[:, 3] = np.log1p([pop[item] for item in items])
        ctr = self.ctr.predict_proba_rows((f"u={user}", hour_feature(ts)),
                                          rows.reshape(len(items), 3).T, numeric)
        return mf, ctr

    def _item_rows(self) -> dict[str, tuple[tuple[int, int, int], tuple[float, ...], Any]]:
        """Each scored item's CTR rows (item, category, stock band), its numeric features
        other than affinity and popularity, and its category; cached until the item's
        next catalog change, and made again when the CTR model's rows are."""
        rows = self.ctr.param_rows()
        if self.__dict__.get("_parts_of") is not rows:   # (absent from older snapshots)
            self.__dict__["_parts"], self.__dict__["_parts_of"] = {}, rows
        return self.__dict__["_parts"]

    def _add_parts(self, item: str) -> tuple[tuple[int, int, int], tuple[float, ...], Any]:
        info = self._catalog.get(item)
        i, cat_name, stock, log_price, drop = item_parts(item, info)
        r = self.ctr.param_rows().rows((i, cat_name, stock))
        got = self.__dict__["_parts"][item] = ((r[0], r[1], r[2]), (log_price, drop, 0.0, 0.0),
                                              info.get("category") if info else None)
        return got

    def score_columns(self, user: str, items: list[str], ts: float) -> np.ndarray:
        """(MF preference min-max scaled over the list, P(click)) per item, one row each:
        the MF scale drifts as the model learns, the probability does not. The learned
        ranker's ``mf`` and ``ctr`` features (``models/ranking.MODEL_FEATURES``). Read-only."""
        if not items:
            return np.zeros((0, 2))
        mf, ctr = self.score_parts(user, items, ts)
        span = mf.max() - mf.min()
        mf = (mf - mf.min()) / span if span > 0 else np.zeros(len(items))
        return np.column_stack([mf, ctr]).astype(float)

    def score(self, user: str, items: list[str], ts: float) -> np.ndarray:
        """Model score per item: MF preference (min-max over the list) + P(click). Read-only."""
        return self.score_columns(user, items, ts).sum(axis=1)

    def metrics(self) -> dict[str, float]:
        return {"ctr_logloss": float(self.ctr.logloss.get()), "ctr_auc": float(self.ctr.auc.get()),
                "ctr_examples": self.ctr.n_learned, "mf_examples": self.mf.n_learned,
                "events": self.events, "forgotten_users": len(self.forgotten)}
