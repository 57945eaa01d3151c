"""The worker keeps the configured log level (faust's spinner would lower it to DEBUG)."""

from __future__ import annotations

import subprocess
import sys

import orjson

CODE = """
import logging, faust
from streamrec.streams.settings import Settings
from streamrec.streams.worker.app import QuietWorker, Worker
app = Worker(Settings.from_env({{}}, broker="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")).app
cls = {cls}
worker = cls(app, loglevel="warn", quiet=True, redirect_stdouts=False)
worker._setup_logging()          # what `faust worker` runs first
print("RESULT", logging.root.level, logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG))
"""


def _root_level(cls: str) -> str:
    # declaring the app connects to nothing
    out = subprocess.run([sys.executable, "-c", CODE.format(cls=cls)],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split("RESULT ")[1].strip()


def test_the_worker_keeps_the_configured_level_where_faust_would_set_debug():
    assert _root_level("faust.Worker") == "10 True"      # why QuietWorker exists
    assert _root_level("QuietWorker") == "30 False"


def test_the_worker_logs_json_lines_when_asked():
    code = """
import logging
from streamrec.streams.settings import Settings
from streamrec.streams.worker.app import Worker
s = Settings.from_env({}, broker="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0",
                      log_format="json")
Worker(s).mode_worker()._setup_logging()
logging.getLogger("streamrec.test").warning("hello %s", "there", extra={"offset": 7})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    line = [ln for ln in out.stderr.splitlines() if "hello" in ln][0]
    assert orjson.loads(line) | {"time": "?"} == {
        "time": "?", "level": "WARNING", "logger": "streamrec.test", "message": "hello there",
        "offset": 7}
