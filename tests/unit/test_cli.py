import numpy as np
import orjson

from streamrec.streams.cli import main


def test_ope_command_prints_estimates(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "log.jsonl"
    with open(path, "wb") as f:
        for _ in range(2000):
            a = int(rng.integers(2))
            f.write(orjson.dumps({"context": None, "action": a, "propensity": 0.5,
                                  "reward": float(rng.random() < (0.2, 0.6)[a])}) + b"\n")
    assert main(["ope", str(path), "--policy", "fixed:1", "--boot", "50"]) == 0
    out = capsys.readouterr().out
    ipw = float(next(line for line in out.splitlines() if "| ipw" in line).split("|")[2])
    assert abs(ipw - 0.6) < 0.07


def test_bad_settings_exit_2_with_the_setting_named(capsys):
    assert main(["topics", "--partitions", "0"]) == 2
    assert "STREAMREC_PARTITIONS=0" in capsys.readouterr().err
