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
