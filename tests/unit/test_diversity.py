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
