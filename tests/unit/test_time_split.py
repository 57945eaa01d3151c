"""A time split for evaluating the transformer: `train --until` keeps later events out of
the model, and `evaluate` refuses a transformer whose training saw the judged events."""

import json

import pytest

from streamrec.models.sequential import load
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import read_ratings
from streamrec.streams.tools.evaluate import check_configs
from streamrec.streams.tools.train import run_train

USERS = 20


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    settings = Settings.from_env()
    rows = read_ratings(settings.resolved_data_dir(), USERS)
    cut = sorted(r[3] for r in rows)[len(rows) * 3 // 4]
    out = tmp_path_factory.mktemp("seqrec")
    run_train(settings, out, users=USERS, epochs=1, dim=16, layers=1, heads=2, max_len=20,
              lr=1e-3, batch_size=64, patience=1, device="cpu", until=cut)
    return out, rows, cut


def test_train_until_learns_only_earlier_events(trained):
    out, rows, cut = trained
    _, items = load(out)
    before = {r[1] for r in rows if r[3] < cut}
    only_after = {r[1] for r in rows if r[3] >= cut} - before
    assert only_after                            # the slice has items first seen later
    assert set(items) == before
    assert json.loads((out / "metrics.json").read_text())["trained_until"] == cut


def test_transformer_is_judged_only_on_events_its_model_never_saw(trained, tmp_path):
    out, _, cut = trained
    assert check_configs(["covisit", "transformer"], out, judge_from=cut) == [
        "covisit", "transformer"]
    with pytest.raises(StreamrecError, match="--judge-from"):
        check_configs(["transformer"], out, judge_from=cut - 1)
    with pytest.raises(StreamrecError, match="--judge-from"):
        check_configs(["transformer"], out)              # judging everything would leak
    with pytest.raises(StreamrecError, match="--configs full: .*--judge-from"):
        check_configs(["full"], out)                     # the full blend uses the model too
    with pytest.raises(StreamrecError, match="--configs full needs --model-dir"):
        check_configs(["full"], None, judge_from=cut)
    # a model trained on everything (no --until) is refused whatever the judging date
    full = tmp_path / "full"
    full.mkdir()
    for f in ("config.json", "model.safetensors", "items.json"):
        if (out / f).exists():
            (full / f).write_bytes((out / f).read_bytes())
    (full / "metrics.json").write_text(json.dumps({"trained_until": None}))
    with pytest.raises(StreamrecError, match="--until"):
        check_configs(["transformer"], full, judge_from=cut)
