"""River incremental models, learned one event at a time, scored without side effects.

* :class:`ImplicitMF` wraps ``river.reco.BiasedMF`` for implicit feedback: an interaction
  is a positive, ``negatives`` sampled catalogue items are negatives. Scoring reads the
  latent tables with ``dict.get`` (River's ``predict_one`` would create vectors for
  unseen ids).
* :class:`OnlineCTR` wraps ``river.facto.FMClassifier`` on exposure features (user, item,
  category, log price, price change, stock band, hour, the user's category affinity,
  item popularity); labels come from :class:`ExposureJoiner` (a view is an exposure; a
  click or purchase on it within ``window_s`` of event time makes it positive, otherwise
  it becomes a negative when it expires). Metrics are prequential: each example is
  scored before it is learned.

>>> mf = ImplicitMF(n_factors=4, negatives=1, seed=1)
>>> for _ in range(30):
...     mf.learn_one("ann", "tent"); mf.learn_one("bob", "stove")
>>> before = len(mf._model.u_latents)
>>> scores = mf.score("nobody", ["tent"])   # an unseen user: no vector is created
>>> len(mf._model.u_latents) == before
True
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from river import facto, metrics, optim, reco

from .param_rows import HasParamRows


class ImplicitMF(HasParamRows):
    def __init__(self, n_factors: int = 16, lr: float = 0.05, l2: float = 0.01,
                 negatives: int = 2, seed: int = 0) -> None:
        self.n_factors = n_factors
        self.lr = lr
        self.l2 = l2
        self.negatives = negatives
        self.seed = seed
        self._model = reco.BiasedMF(
            n_factors=n_factors, bias_optimizer=optim.SGD(lr), latent_optimizer=optim.SGD(lr),
            loss=optim.losses.Squared(), l2_bias=l2, l2_latent=l2,
            latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
            seed=seed)
        self._rng = np.random.default_rng(seed)
        self._items: list[str] = []
        self._known: set[str] = set()
        self.n_learned = 0

    def learn_one(self, user: str, item: str) -> None:
        if item not in self._known:
            self._known.add(item)
            self._items.append(item)
        self._model.learn_one(user, item, 1.0)
        touched = [item]
        for _ in range(self.negatives):
            neg = self._items[int(self._rng.integers(len(self._items)))]
            if neg != item:
                self._model.learn_one(user, neg, 0.0)
                touched.append(neg)
        self.n_learned += 1
        self._touched(touched)

    def _params(self, item: str) -> tuple[float, np.ndarray | None] | None:
        """The item's bias and latent vector (its :meth:`param_rows` row)."""
        m = self._model
        if item not in m.i_biases and item not in m.i_latents:
            return None
        return m.i_biases.get(item, 0.0), m.i_latents.get(item)

    def forget(self, user: str) -> bool:
        """Drop ``user``'s latent vector and bias (it was forgotten on request); False if
        the model had neither."""
        m = self._model
        return (m.u_latents.pop(user, None) is not None) | (m.u_biases.pop(user, None)
                                                           is not None)

    def score(self, user: str, items: Sequence[str]) -> np.ndarray:
        """Predicted preference of ``user`` for each item; read-only."""
        m, params = self._model, self.param_rows()
        r = params.rows(items)
        out = m.global_mean.get() + m.u_biases.get(user, 0.0) + params.w[r]
        uv = m.u_latents.get(user)
        if uv is not None and r:
            known = params.has_v[r]
            if known.any():
                out[known] += params.v[np.asarray(r)[known]] @ uv
        return out


STOCK_BANDS = ((0, "out"), (5, "low"), (20, "mid"))


def stock_band(stock: int | None) -> str:
    if stock is None:
        return "unknown"
    for hi, name in STOCK_BANDS:
        if stock <= hi:
            return name
    return "high"


def ctr_features(user: str, item: str, ts: float, item_info: dict[str, Any] | None,
                 category_affinity: float, popularity: float) -> dict[str, float]:
    """Exposure features (pure).

    >>> f = ctr_features("u1", "i9", 3600 * 13, {"category": "Drama", "price": 9.0,
    ...                  "prev_price": 12.0, "stock": 3}, 0.5, 10.0)
    >>> f["cat=Drama"], f["hour=13"], f["stock=low"], round(f["price_drop"], 2)
    (1.0, 1.0, 1.0, 0.25)
    """
    i, cat, stock, log_price, price_drop = item_parts(item, item_info)
    return {f"u={user}": 1.0, i: 1.0, cat: 1.0, stock: 1.0, hour_feature(ts): 1.0,
            "log_price": log_price, "price_drop": price_drop,
            "cat_affinity": category_affinity, "log_pop": math.log1p(popularity)}


def hour_feature(ts: float) -> str:
    return f"hour={int(ts // 3600) % 24}"


def item_parts(item: str, item_info: dict[str, Any] | None
               ) -> tuple[str, str, str, float, float]:
    """The item's side of :func:`ctr_features`: its three one-hot names (item, category,
    stock band), its log price and its relative price drop."""
    info = item_info or {}
    price = info.get("price")
    prev = info.get("prev_price")
    return (f"i={item}", f"cat={info.get('category', '?')}",
            f"stock={stock_band(info.get('stock'))}",
            math.log1p(price) if price is not None else 0.0,
            (prev - price) / prev if price is not None and prev else 0.0)


NUMERIC = ("log_price", "price_drop", "cat_affinity", "log_pop")   # ctr_features' numbers


class OnlineCTR(HasParamRows):
    """Factorisation-machine click model with prequential LogLoss and ROC AUC."""

    def __init__(self, n_factors: int = 8, lr: float = 0.02, seed: int = 0) -> None:
        self.n_factors = n_factors
        self.lr = lr
        self.seed = seed
        self._model = facto.FMClassifier(
            n_factors=n_factors, weight_optimizer=optim.SGD(lr),
            latent_optimizer=optim.SGD(lr), l2_weight=1e-4, l2_latent=1e-4,
            sample_normalization=False, seed=seed)
        self.logloss = metrics.LogLoss()
        self.auc = metrics.ROCAUC()
        self.n_learned = 0

    def _known(self, x: dict[str, float]) -> dict[str, float]:
        w = self._model.weights
        return {k: v for k, v in x.items() if k in w}

    def predict_proba(self, x: dict[str, float]) -> float:
        """P(click | exposure); features never seen in training are ignored (no writes)."""
        if not self.n_learned:
            return 0.5
        return float(self._model.predict_proba_one(self._known(x)).get(True, 0.5))

    def predict_proba_many(self, xs: Sequence[dict[str, float]]) -> np.ndarray:
        """:meth:`predict_proba` of each feature dict in one vectorised pass: the FM's
        pairwise term as 0.5 * sum_f ((X V)^2 - X^2 V^2) instead of River's loop over
        feature pairs. Read-only, like :meth:`predict_proba`."""
        if not self.n_learned or not xs:
            return np.full(len(xs), 0.5)
        m = self._model
        w, latents = m.weights, m.latents
        index: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, x in enumerate(xs):
            for k, v in x.items():
                if k in w:
                    rows.append(r)
                    cols.append(index.setdefault(k, len(index)))
                    vals.append(v)
        X = np.zeros((len(xs), len(index)))
        X[rows, cols] = vals
        zero = np.zeros(self.n_factors)
        W = np.array([w[k] for k in index])
        V = np.array([latents.get(k, zero) for k in index]).reshape(len(index), self.n_factors)
        z = m.intercept + X @ W + 0.5 * (((X @ V) ** 2).sum(1) - ((X ** 2) @ (V ** 2)).sum(1))
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        return np.where(z < -30, 0.0, np.where(z > 30, 1.0, p))   # River's sigmoid clamps

    def _params(self, name: str) -> tuple[float, np.ndarray | None] | None:
        """The feature's weight and latent vector (its :meth:`param_rows` row)."""
        m = self._model
        return (m.weights[name], m.latents.get(name)) if name in m.weights else None

    def predict_proba_rows(self, shared: Sequence[str], onehots: np.ndarray,
                           numeric: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba_many` for rows that share the one-hot features ``shared``
        (the user, the hour), each with one feature per group of ``onehots`` (item,
        category, stock band: their :meth:`param_rows` rows, shape (groups, n)) and the
        :data:`NUMERIC` values of its row of ``numeric``: the same sums, with no feature
        dict per row and no dict read per feature."""
        n = len(numeric)
        if not self.n_learned or not n:
            return np.full(n, 0.5)
        params = self.param_rows()
        rs, rn = params.rows(shared), params.rows(NUMERIC)      # (brought up to date)
        W, V = params.w[onehots], params.v[onehots]              # (groups, n), (groups, n, F)
        Vs, Wn, Vn = params.v[rs], params.w[rn], params.v[rn]
        linear = self._model.intercept + sum(params.w[r] for r in rs) + W.sum(0) + numeric @ Wn
        S = Vs.sum(0) + V.sum(0) + numeric @ Vn
        Q = float((Vs ** 2).sum()) + (V ** 2).sum((0, 2)) + (numeric ** 2) @ (Vn ** 2).sum(1)
        z = linear + 0.5 * ((S ** 2).sum(1) - Q)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        return np.where(z < -30, 0.0, np.where(z > 30, 1.0, p))   # River's sigmoid clamps

    def forget(self, user: str) -> bool:
        """Drop the weight and latent vector of ``user``'s one-hot feature; False if the
        model had neither."""
        m, name = self._model, f"u={user}"
        self._touched([name])
        return (m.weights.pop(name, None) is not None) | (m.latents.pop(name, None)
                                                         is not None)

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        p = self.predict_proba(x)           # test, then train
        self.logloss.update(y, p)
        self.auc.update(y, p)
        self._model.learn_one(x, y)
        self.n_learned += 1
        self._touched(x)


@dataclass
class ExposureJoiner:
    """Joins exposures (views) with later clicks/purchases into labelled examples.

    >>> j = ExposureJoiner(window_s=60)
    >>> j.exposure("u", "a", 0.0, {"x": 1.0})
    []
    >>> j.outcome("u", "a", 5.0)               # clicked within the window
    [({'x': 1.0}, True)]
    >>> j.exposure("u", "b", 10.0, {"x": 2.0})
    []
    >>> j.exposure("u", "c", 100.0, {"x": 3.0})  # b expired unclicked: a negative
    [({'x': 2.0}, False)]
    """

    window_s: float = 3600.0
    max_pending: int = 200_000
    _pending: OrderedDict = field(default_factory=OrderedDict)
    _by_user: dict[str, deque] = field(default_factory=dict)

    def _expire(self, user: str, now: float) -> list[tuple[dict, bool]]:
        out = []
        q = self._by_user.get(user)
        while q and q[0][1] < now - self.window_s:
            item, _ = q.popleft()
            x = self._pending.pop((user, item), None)
            if x is not None:
                out.append((x[0], False))
        while len(self._pending) > self.max_pending:   # bound memory: oldest are negatives
            _, (x, _) = self._pending.popitem(last=False)
            out.append((x, False))
        return out

    def exposure(self, user: str, item: str, ts: float, x: dict) -> list[tuple[dict, bool]]:
        out = self._expire(user, ts)
        if (user, item) not in self._pending:
            self._pending[(user, item)] = (x, ts)
            self._by_user.setdefault(user, deque()).append((item, ts))
        return out

    def outcome(self, user: str, item: str, ts: float) -> list[tuple[dict, bool]]:
        out = self._expire(user, ts)
        x = self._pending.pop((user, item), None)
        if x is not None:
            out.append((x[0], True))
        return out

    def forget(self, user: str) -> int:
        """Drop ``user``'s pending exposures (their features name the user); how many."""
        q = self._by_user.pop(user, None) or ()
        return sum(self._pending.pop((user, item), None) is not None for item, _ in q)
