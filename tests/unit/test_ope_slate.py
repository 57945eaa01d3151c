"""Slate estimators on simulated lists with a known additive reward, and the CLI's ope."""

import numpy as np
import orjson
import pytest

from streamrec.models.bandits import RandomPolicy
from streamrec.models.ope import Round
from streamrec.models.ope_slate import FixedSlate, evaluate_slates
from streamrec.streams.cli import main

THETA = np.linspace(0.02, 0.3, 10)        # click rate of each of 10 items at the top
BIAS = np.array([1.0, 0.6, 0.3])          # position bias of 3 positions


def slate_log(n=8000, seed=0):
    """Each position filled independently and uniformly (a product logging policy, with
    repeats), clicks independent across positions: the independent model holds."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 10, size=(n, 3))
    clicks = rng.random((n, 3)) < THETA[items] * BIAS
    return [Round(None, int(items[i, j]), float(clicks[i, j]), 0.1, None, j, f"s{i}")
            for i in range(n) for j in range(3)]


def test_independent_and_pseudo_inverse_recover_a_fixed_list():
    target = FixedSlate([9, 8, 7])
    truth = float(sum(THETA[a] * b for a, b in zip([9, 8, 7], BIAS, strict=True)))
    est = evaluate_slates(slate_log(), target, seed=1, n_boot=200)
    for name in ("independent", "pseudo-inverse"):
        e = est[name]
        assert e.low <= truth <= e.high and abs(e.value - truth) < 0.05, (name, e, truth)
    assert est["independent@1"].low <= THETA[9] <= est["independent@1"].high
    assert est["independent"].value == pytest.approx(
        sum(est[f"independent@{j}"].value for j in (1, 2, 3)), abs=1e-12)


def test_estimates_equal_a_hand_computation():
    log = slate_log(n=500, seed=3)
    est = evaluate_slates(log, FixedSlate([1, 2, 3]), n_boot=10)
    lists = [log[i:i + 3] for i in range(0, len(log), 3)]
    w = [[(1.0 if r.action == [1, 2, 3][j] else 0.0) / r.propensity for j, r in enumerate(s)]
         for s in lists]
    n = len(lists)
    indep = sum(w[i][j] * lists[i][j].reward for i in range(n) for j in range(3)) / n
    casc = sum(np.prod(w[i][: j + 1]) * lists[i][j].reward for i in range(n)
               for j in range(3)) / n
    pinv = sum((sum(w[i]) - 2) * sum(r.reward for r in lists[i]) for i in range(n)) / n
    assert est["independent"].value == pytest.approx(indep, abs=1e-12)
    assert est["cascade"].value == pytest.approx(casc, abs=1e-12)
    assert est["pseudo-inverse"].value == pytest.approx(pinv, abs=1e-12)


def test_a_uniform_target_on_a_uniform_log_is_the_logged_mean():
    log = slate_log(n=3000, seed=5)
    est = evaluate_slates(log, RandomPolicy(seed=0), n_boot=50, arms=range(10))
    logged = sum(r.reward for r in log) / 3000
    assert est["independent"].value == pytest.approx(logged, abs=1e-12)   # every w = 1


def test_ope_cli_reads_lists_and_shows_only_its_options(tmp_path, capsys):
    path = tmp_path / "slates.jsonl"
    with open(path, "wb") as f:
        for r in slate_log(n=2000, seed=7):
            f.write(orjson.dumps({"context": None, "action": r.action, "reward": r.reward,
                                  "propensity": r.propensity, "position": r.position,
                                  "slate_id": r.slate_id}) + b"\n")
    assert main(["ope", str(path), "--policy", "random", "--boot", "30"]) == 0
    out = capsys.readouterr().out
    assert "2000 logged lists" in out and "| pseudo-inverse" in out
    with pytest.raises(SystemExit):
        main(["ope", "--help"])
    help_text = capsys.readouterr().out
    assert "--clip" in help_text and "--switch-tau" in help_text
    assert "--broker" not in help_text and "--redis-url" not in help_text
    assert "--api-port" not in help_text


def test_shorter_lists_are_padded_without_changing_the_estimates():
    full = slate_log(n=400, seed=9)
    short = [r for r in full if not (r.slate_id in {"s0", "s1"} and r.position == 2)]
    a = evaluate_slates(full, FixedSlate([1, 2, 3]), n_boot=10)
    b = evaluate_slates(short, FixedSlate([1, 2, 3]), n_boot=10)
    lost = sum(r.reward * (r.action == 3) / r.propensity for r in full
               if r.slate_id in {"s0", "s1"} and r.position == 2) / 400
    assert b["independent"].value == pytest.approx(a["independent"].value - lost, abs=1e-12)
