"""Child processes never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PARENT = """
import time
from streamrec.streams.dev.demo import start_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker
from streamrec.streams.settings import Settings
with TansuBroker() as b, RedisServer() as r:
    p = start_worker(Settings.from_env({}, broker=b.bootstrap, redis_url=r.url,
                                       topic_prefix="orphan.", snapshot_key="k" * 32))
    print(p.pid, flush=True)
    time.sleep(120)
"""


def test_worker_dies_when_its_parent_is_killed():
    """The parent (like `streamrec evaluate`) is killed outright: its broker goes with it,
    and its worker must not stay behind retrying that broker. (Seen once: two workers of a
    killed evaluation, sent SIGTERM by the kernel, kept retrying at 50% CPU for an hour;
    they are now sent SIGKILL. This short run does not reproduce that hang; it checks that
    the worker goes.)"""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        time.sleep(8.0)                              # the worker is up, in its group
        assert _alive(worker)
        os.kill(parent.pid, signal.SIGKILL)          # no chance to clean up
        parent.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed parent"
    finally:
        parent.kill()
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
