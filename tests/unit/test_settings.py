import pytest

from streamrec.streams.exceptions import SettingsError
from streamrec.streams.settings import Settings


def test_defaults_without_env():
    s = Settings.from_env({})
    assert (s.ranking.k, s.kafka.partitions, s.kafka.broker, s.redis.redis_url,
            s.kafka.topic_prefix) == (20, 4, "", "", "")


def test_env_is_read_and_overrides_win():
    env = {"STREAMREC_K": "7", "STREAMREC_BROKER": "h:1", "STREAMREC_EXCLUDE_SEEN": "false"}
    s = Settings.from_env(env, broker="other:2")
    assert s.ranking.k == 7 and s.kafka.broker == "other:2"
    assert s.ranking.exclude_seen is False


def test_round_trip_through_env():
    s = Settings.from_env({}, k=11, topic_prefix="x.", half_life_s=3.5, exclude_seen=False)
    assert Settings.from_env(s.to_env()) == s


@pytest.mark.parametrize("env, fragment", [
    ({"STREAMREC_K": "0"}, "STREAMREC_K='0': out of range"),
    ({"STREAMREC_K": "ten"}, "STREAMREC_K='ten': must be an integer"),
    ({"STREAMREC_PARTITIONS": "-1"}, "STREAMREC_PARTITIONS"),
    ({"STREAMREC_HALF_LIFE_S": "soon"}, "STREAMREC_HALF_LIFE_S='soon': must be a number"),
    ({"STREAMREC_LOG_LEVEL": "loud"}, "must be one of debug, info, warning, error"),
    ({"STREAMREC_BROKER": "kafka://h:9092"}, "expected host:port"),
    ({"STREAMREC_REDIS_URL": "localhost:6379"}, "expected redis://host:port/db"),
    ({"STREAMREC_EXCLUDE_SEEN": "maybe"}, "must be a boolean"),
    ({"STREAMREC_COVISIT_HALF_LIFE_S": "86400"}, "use 0 (off) or at least 2592000"),
])
def test_bad_values_name_the_setting(env, fragment):
    with pytest.raises(SettingsError) as e:
        Settings.from_env(env)
    assert fragment in str(e.value)


def test_describe_covers_every_field():
    rows = Settings.describe()
    assert {r[0] for r in rows} >= {"STREAMREC_BROKER", "STREAMREC_REDIS_URL", "STREAMREC_K"}
    assert all(r[2] for r in rows)


def test_the_readme_table_is_the_schema():
    """The README's configuration table is made from the settings
    (``python -m streamrec.streams.settings``): every row, in order, as generated."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = Settings.markdown()
    assert table in readme, ("regenerate the README's configuration table: "
                             "python -m streamrec.streams.settings")
    assert readme.count("| `STREAMREC_") == len(Settings.describe())


def test_every_setting_is_a_flag_too():
    """Each setting but the secrets can be given on the command line, of every verb."""
    from streamrec.streams.cli import settings_from
    from streamrec.streams.cli_parser import build_parser

    p = build_parser()
    worker = p._subparsers._group_actions[0].choices["worker"]
    flags = set(worker._option_string_actions)
    for spec in Settings.specs():
        flag = "--" + spec.name.replace("_", "-")
        assert (flag in flags) != spec.secret, flag      # secrets: env vars only
    s = settings_from(p.parse_args(["worker", "--k", "7", "--trending-weight", "0.25",
                                    "--no-learned-ranker", "--ranking", "covisit"]))
    r = s.ranking
    assert (r.k, r.trending_weight, r.learned_ranker, r.ranking) == (7, 0.25, False, "covisit")
    s = settings_from(p.parse_args(["scorer", "--model-dir", "m", "--embed-catalog",
                                    "--max-batch", "8"]))       # the scorer's own names
    v = s.serving
    assert (v.scorer_model_dir, v.scorer_embed_catalog, v.scorer_max_batch) == ("m", True, 8)
    s = settings_from(p.parse_args(["learner", "--snapshot-every", "10"]))
    assert s.serving.learner_snapshot_every == 10
    assert not settings_from(p.parse_args(["demo", "--no-scenario"])).demo.scenario


def test_secrets_are_never_shown():
    s = Settings.from_env({"STREAMREC_REDIS_URL": "redis://app:hunter2hunter2@db:6379/0",
                           "STREAMREC_SNAPSHOT_KEY": "k" * 32,
                           "STREAMREC_ADMIN_TOKEN": "t" * 32})
    shown = repr(s) + str(s)
    assert "hunter2" not in shown and "k" * 32 not in shown and "t" * 32 not in shown
    assert "redis://app:***@db:6379/0" in shown
    with pytest.raises(SettingsError) as e:
        Settings.from_env({"STREAMREC_REDIS_URL": "http://app:hunter2hunter2@db"})
    assert "hunter2" not in str(e.value)
    with pytest.raises(SettingsError, match="16 characters") as e:
        Settings.from_env({"STREAMREC_ADMIN_TOKEN": "short-secret"})
    assert "short-secret" not in str(e.value)


def test_groups_and_flat_env_names():
    """Each setting lives in one group and keeps a flat env var name."""
    from streamrec.streams.settings import GROUPS

    names = [n for cls in GROUPS.values() for n in cls.model_fields]
    assert len(names) == len(set(names))
    assert set(GROUPS) == {"kafka", "redis", "ranking", "serving", "evaluation", "demo"}
    s = Settings.from_env({"STREAMREC_ADMIN_TOKEN": "a" * 20, "STREAMREC_PARTITIONS": "8"})
    assert s.kafka.partitions == 8 and s.serving.admin_token.get_secret_value() == "a" * 20
    assert s.to_env()["STREAMREC_ADMIN_TOKEN"] == "a" * 20  # for a child process only
    assert s.replace(k=5).ranking.k == 5 and s.replace(k=5).kafka.partitions == 8
    with pytest.raises(SettingsError, match="STREAMREC_K"):
        s.replace(k=0)
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.from_env({}, no_such_setting=1)


def test_process_env_is_read_by_pydantic_settings(monkeypatch):
    monkeypatch.setenv("STREAMREC_K", "13")
    monkeypatch.setenv("STREAMREC_RANKING", "covisit")
    s = Settings.from_env()
    assert (s.ranking.k, s.ranking.ranking) == (13, "covisit")
    assert Settings.from_env(k=4).ranking.k == 4  # a flag wins over the env var
    monkeypatch.setenv("STREAMREC_RANKING", "best")
    with pytest.raises(SettingsError, match="STREAMREC_RANKING='best': must be one of blend"):
        Settings.from_env()
