"""STREAMREC_LOG_FORMAT=json: one JSON object per log line, and a rejected event's line
carries its topic, partition, offset and reason as keys (run in a child process: logging
is configured once per process)."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

CODE = """
import asyncio
from streamrec.streams import logs
from streamrec.streams.messages import Message
from streamrec.streams.settings import Settings
from streamrec.streams.worker.admission import Admission

s = Settings.from_env({{}})
logs.setup("warning", {fmt!r})
sent = []
async def send(topic, key, value):
    sent.append(topic)
adm = Admission(s, send, None)
msg = Message(s.topic("events.view"), 3, 41, b"u1", b'{{"event_id": "e1", "user_id": "u1"}}', 0.0)
(_, rejection), = adm.parse([msg])
asyncio.run(adm.reject(msg, rejection.reason))
print("SENT", sent)
"""


def _run(fmt: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", CODE.format(fmt=fmt)], capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout, out.stderr


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_rejected_event_is_logged_with_its_topic_partition_offset_and_reason(fmt):
    stdout, stderr = _run(fmt)
    assert stdout.count("events.dlq") == 1          # and it went to the DLQ, once
    lines = [ln for ln in stderr.splitlines() if "rejected" in ln]
    assert len(lines) == 1
    if fmt == "text":
        assert "[3]@41" in lines[0] and "item_id" in lines[0]
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(lines[0])
        return
    rec = orjson.loads(lines[0])
    assert rec["level"] == "WARNING" and rec["logger"] == "streamrec.streams.worker.admission"
    assert rec["topic"].endswith("events.view") and rec["partition"] == 3
    assert rec["offset"] == 41 and "item_id" in rec["reason"]
    assert rec["message"].startswith("rejected ")
