"""The search index and re-ranking (models/search.py), without any server."""

from __future__ import annotations

import numpy as np
import pytest

from streamrec.models.profile import Profile
from streamrec.models.search import VectorIndex, rerank


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact(vecs: np.ndarray, q: np.ndarray, n: int) -> list[int]:
    return list(np.argsort(-(vecs @ q), kind="stable")[:n])


def test_flat_is_exact_and_follows_upserts_and_removals():
    rng = np.random.default_rng(3)
    vecs = unit(rng, 500, 16)
    ids = [f"i{n}" for n in range(500)]
    idx = VectorIndex(16, "flat")
    idx.upsert(ids, vecs)
    idx.swap(idx.build())
    for q in unit(rng, 20, 16):
        got = idx.search(q, 10)
        assert [i for i, _ in got] == [ids[r] for r in exact(vecs, q, 10)]
        assert [s for _, s in got] == pytest.approx(sorted((vecs @ q)[exact(vecs, q, 10)],
                                                           reverse=True), abs=1e-5)
    q = unit(rng, 1, 16)[0]
    first = idx.search(q, 1)[0][0]
    idx.remove([first])
    idx.upsert(["new"], q[None, :])
    assert idx.search(q, 1)[0][0] == first          # searches see the old snapshot ...
    idx.swap(idx.build())
    got = [i for i, _ in idx.search(q, 3)]
    assert got[0] == "new" and first not in got     # ... until the next one is swapped in
    assert len(idx) == 500 and idx.searchable == 500


def test_hnsw_finds_nearly_all_of_the_exact_neighbours():
    rng = np.random.default_rng(5)
    vecs = unit(rng, 3000, 32)
    idx = VectorIndex(32, "hnsw")
    idx.upsert([str(n) for n in range(3000)], vecs)
    idx.swap(idx.build())
    found = total = 0
    for q in unit(rng, 50, 32):
        truth = {str(r) for r in exact(vecs, q, 10)}
        found += len(truth & {i for i, _ in idx.search(q, 10)})
        total += 10
    assert found / total >= 0.95


def test_empty_index_and_bad_kind():
    idx = VectorIndex(4)
    assert idx.search(np.ones(4), 5) == []
    idx.swap(idx.build())
    assert idx.search(np.ones(4), 5) == []
    with pytest.raises(ValueError, match="flat or hnsw"):
        VectorIndex(4, "ivf")  # type: ignore[arg-type]


def test_rerank_moves_the_users_category_and_price_up_and_keeps_k():
    p = Profile()
    for ts in range(4):
        p.observe("view", "Garden", 30.0, ts=float(ts))
    hits = [("lamp", 0.80), ("hose", 0.76), ("cheap-hose", 0.76), ("rake", 0.50)]
    info = {"lamp": {"category": "Home", "price": 30.0},
            "hose": {"category": "Garden", "price": 30.0},
            "cheap-hose": {"category": "Garden", "price": 3.0},
            "rake": {"category": "Garden", "price": 30.0}}
    plain = rerank(hits, info, None, k=3, affinity_weight=0.3, price_weight=0.1)
    assert [h.item_id for h in plain] == ["lamp", "cheap-hose", "hose"]   # ties by id
    mine = rerank(hits, info, p, k=3, affinity_weight=0.3, price_weight=0.1)
    assert [h.item_id for h in mine] == ["hose", "cheap-hose", "lamp"]
    assert mine[0].affinity == 1.0 and mine[0].price_fit == 1.0
    assert mine[1].price_fit == pytest.approx(0.1, abs=1e-4)
    off = rerank(hits, info, p, k=4, affinity_weight=0.0, price_weight=0.0)
    assert [h.item_id for h in off] == ["lamp", "cheap-hose", "hose", "rake"]


def test_price_fit_is_one_at_the_typical_price_and_zero_when_unknown():
    p = Profile()
    assert p.price_fit(10.0) == 0.0
    p.observe("view", None, 10.0, ts=0.0)
    assert p.price_fit(10.0) == 1.0 and p.price_fit(None) == 0.0
    assert p.price_fit(20.0) == pytest.approx(0.5) and p.price_fit(5.0) == pytest.approx(0.5)
