"""The sequential transformer learns: loss falls and it beats popularity on HR@10."""

from collections import defaultdict

import pytest
import torch

from streamrec.models import seqtrain
from streamrec.models.sequential import build, load, save
from streamrec.streams.exceptions import DataMissing
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import read_ratings


@pytest.fixture(scope="module")
def split():
    try:
        data = Settings.from_env().resolved_data_dir()
    except DataMissing as e:
        pytest.skip(str(e))
    seqs = defaultdict(list)
    for user, item, _, _ in read_ratings(data, 300):   # a fixed slice: first 300 users
        seqs[user].append(item)
    return seqtrain.leave_last_out(seqs)


def test_training_lowers_loss_and_beats_popularity(split, tmp_path):
    torch.set_num_threads(2)
    model = build(len(split.item_ids), dim=32, layers=1, heads=2, max_len=30, seed=0)
    # patience = epochs: it first sits at the popularity plateau for a few epochs
    hist = seqtrain.train(model, split, epochs=12, patience=12, lr=3e-3, seed=0)
    assert hist.loss[-1] < hist.loss[0] - 1.0
    hr, ndcg = seqtrain.evaluate(model.score_all, split.test)
    pop_hr, pop_ndcg = seqtrain.evaluate(seqtrain.popularity_scorer(split), split.test)
    assert hr > pop_hr and ndcg > pop_ndcg, (hr, pop_hr)
    # the saved and reloaded model gives the same scores as the trained one
    save(model, split.item_ids, tmp_path / "m")
    served, items = load(tmp_path / "m")
    assert items == split.item_ids
    hs = [h for h, _ in split.test[:20]]
    assert torch.allclose(served.score_all(hs)[:, 1:], model.score_all(hs)[:, 1:], atol=1e-5)


def test_leave_last_out_split(split):
    assert len(split.test) == len(split.valid) == len(split.train)
    for (vh, vt), (th, _tt), tr in zip(split.valid[:50], split.test[:50], split.train[:50],
                                      strict=True):
        assert th == tr + [vt] and vh == tr


def test_bad_config_fails_at_build():
    with pytest.raises(ValueError, match="divisible"):
        build(10, dim=10, heads=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_gpu_scores_match_cpu():
    model = build(n_items=500, dim=64, layers=2, heads=2, max_len=50, seed=0).eval()
    seqs = [[(7 * i + j) % 500 + 1 for j in range(5 + i % 40)] for i in range(64)]
    cands = [[(11 * i + j) % 500 + 1 for j in range(100)] for i in range(64)]
    cpu = model.score(seqs, cands)
    gpu = model.cuda().score(seqs, cands).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed = model.score(seqs, cands).float().cpu()
    top_cpu, top_mixed = cpu.argmax(1), mixed.argmax(1)
    assert (top_cpu == top_mixed).float().mean() > 0.9
