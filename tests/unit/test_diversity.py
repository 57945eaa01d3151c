import random

from streamrec.models.diversity import catalog_coverage, intra_list_diversity, mmr


def test_lower_lambda_gives_more_diverse_lists():
    rng = random.Random(0)
    # the most relevant items are all dramas; other genres come further down
    cats = {f"i{n}": "Drama" if n < 20 else rng.choice(["Drama", "Comedy", "Horror"])
            for n in range(60)}
    ranked = [(f"i{n}", 1.0 - n / 60) for n in range(60)]
    ild = {lam: intra_list_diversity([i for i, _ in mmr(ranked, cats, 10, lam)], cats)
           for lam in (1.0, 0.7, 0.3)}
    assert ild[1.0] == 0.0 and 0.0 < ild[0.7] <= ild[0.3]
    assert [i for i, _ in mmr(ranked, cats, 10, 1.0)] == [i for i, _ in ranked[:10]]


def test_mmr_keeps_scores_and_never_invents_items():
    ranked = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    out = mmr(ranked, {"a": "x", "b": "x", "c": "y"}, 5, 0.5)
    assert sorted(out) == sorted(ranked)


def test_coverage():
    assert catalog_coverage([["a", "b"], ["b", "c"]], 10) == 0.3


def test_embeddings_separate_items_of_one_category():
    import numpy as np
    cats = dict.fromkeys("abcd", "Drama")
    near, far = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    vecs = {"a": near, "b": near, "c": near, "d": far}
    ranked = [("a", 1.0), ("b", 0.9), ("c", 0.8), ("d", 0.7)]
    # categories alone cannot tell them apart; embeddings can
    assert [i for i, _ in mmr(ranked, {}, 2, 0.5, vectors=vecs)] == ["a", "d"]
    assert [i for i, _ in mmr(ranked, cats, 2, 0.5)] == ["a", "b"]


def test_category_mmr_picks_what_the_similarity_matrix_picks():
    """The fast category-only MMR against the matrix one on random lists (ties included)."""
    from streamrec.models.diversity import _mmr_categories, _mmr_matrix
    rng = random.Random(7)
    for case in range(400):
        n = rng.randint(1, 45)
        scores = [round(rng.random(), 1 if case % 3 == 0 else 6) for _ in range(n)]  # ties
        ranked = sorted(((f"i{j}", s) for j, s in enumerate(scores)), key=lambda t: -t[1])
        cats = {i: rng.choice(["a", "b", "c", "d", None]) for i, _ in ranked}
        lo, hi = min(scores), max(scores)
        norm = [(s - lo) / (hi - lo) if hi > lo else 1.0 for _, s in ranked]
        lam, k = rng.choice([0.3, 0.5, 0.8, 0.95]), rng.randint(1, 25)
        assert _mmr_categories(ranked, norm, cats, k, lam) == \
            _mmr_matrix(ranked, norm, cats, k, lam, None), case


def test_intra_list_diversity_by_counts_equals_pairwise():
    from streamrec.models.diversity import _sim
    rng = random.Random(3)
    for _ in range(200):
        items = [f"i{j}" for j in range(rng.randint(2, 30))]
        cats = {i: rng.choice(["a", "b", "c", None]) for i in items}
        n = len(items)
        pairwise = sum(1 - _sim(items[a], items[b], cats, None)
                       for a in range(n) for b in range(a + 1, n)) / (n * (n - 1) / 2)
        assert intra_list_diversity(items, cats) == round(pairwise, 4)
