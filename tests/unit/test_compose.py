"""docker-compose.yml, checked statically (no docker daemon here): Redis keeps an
append-only file and a password and is not published; every role is supervised and gets
its secrets from the environment, never from the file."""

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())


def test_redis_is_durable_private_and_password_protected():
    redis = COMPOSE["services"]["redis"]
    cmd = redis["command"]
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    assert "--requirepass" in cmd and "ports" not in redis
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_roles_are_supervised_and_secrets_come_from_the_environment():
    services = COMPOSE["services"]
    for role in ("worker", "learner", "api"):
        svc = services[role]
        assert svc["restart"] == "unless-stopped", role
        env = svc["environment"]
        for name in ("STREAMREC_SNAPSHOT_KEY", "STREAMREC_ADMIN_TOKEN"):
            assert env[name].startswith("${" + name + ":?"), (role, name)
        assert ":${STREAMREC_REDIS_PASSWORD:?" in env["STREAMREC_REDIS_URL"]


def _verbs() -> set[str]:
    from streamrec.streams.cli_parser import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "cmd")
    return set(sub.choices)


def test_every_role_runs_a_cli_verb_with_settings_that_exist():
    from streamrec.streams.settings import Settings
    known = {spec.env for spec in Settings.specs()}
    services = COMPOSE["services"]
    built = {n: s for n, s in services.items() if "build" in s}
    assert {"topics", "worker", "learner", "scorer", "scorer-gpu", "api"} <= set(built)
    for name, svc in built.items():
        assert svc["command"][0] in _verbs(), name
        unknown = {k for k in svc["environment"] if k.startswith("STREAMREC_")} - known
        assert not unknown, (name, unknown)


def test_the_scorer_runs_on_the_cpu_and_its_gpu_profile_asks_for_a_gpu():
    services = COMPOSE["services"]
    assert services["scorer"]["environment"]["STREAMREC_SCORER_DEVICE"] == "cpu"
    gpu = services["scorer-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["environment"]["STREAMREC_SCORER_DEVICE"] == "cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_the_monitoring_profile_scrapes_the_api_and_charts_the_pages_figures():
    import json
    import re

    from streamrec.streams.api import figures
    root = Path(__file__).parents[2]
    services = COMPOSE["services"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    prom = yaml.safe_load((root / "deploy/monitoring/prometheus.yml").read_text())
    job = prom["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["api:8080"]      # the api service's port
    assert "8080:8080" in services["api"]["ports"]
    src = Path(figures.__file__).read_text()
    exported = set(re.findall(r'"(streamrec_[a-z_]+)"', src))
    exported |= {f"streamrec_experiment_{stat}" for stat, _, _ in figures.EXPERIMENT}
    exported |= {f"streamrec_{n}" for n in re.findall(r'\("(model_[a-z_]+)"', src)}
    dash = json.loads((root / "deploy/monitoring/grafana/dashboards/streamrec.json").read_text())
    def family(name: str) -> str:        # a sample's name -> its family's
        return re.sub(r"_(bucket|total)$", "", name)

    exported = {family(m) for m in exported}
    charted = {family(m) for p in dash["panels"] for t in p["targets"]
               for m in re.findall(r"streamrec_[a-z_]+", t["expr"])}
    assert len(dash["panels"]) >= 9 and charted and charted <= exported, charted - exported
    assert "streamrec_consumer_partition_lag" in charted
    # and Grafana charts every figure the operator's page shows
    page = (root / "streams/api/static/dashboard.js").read_text()
    shown = {family(m) for m in re.findall(r'"(streamrec_[a-z_]+)"', page)}
    assert shown and shown <= charted, shown - charted
