"""The worker keeps the configured log level (faust's spinner would lower it to DEBUG)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import logging, faust
from streamrec.streams.worker.app import app, QuietWorker
cls = {cls}
worker = cls(app, loglevel="warn", quiet=True, redirect_stdouts=False)
worker._setup_logging()          # what `faust worker` runs first
print("RESULT", logging.root.level, logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG))
"""


def _root_level(cls: str) -> str:
    # importing the app needs settings but connects to nothing
    env = {**os.environ, "STREAMREC_BROKER": "127.0.0.1:1",
           "STREAMREC_REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, "-c", CODE.format(cls=cls)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split("RESULT ")[1].strip()


def test_the_worker_keeps_the_configured_level_where_faust_would_set_debug():
    assert _root_level("faust.Worker") == "10 True"      # why QuietWorker exists
    assert _root_level("QuietWorker") == "30 False"
