"""The demo path: `streamrec demo` on a slice of movielens-small, driven like a user."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
import redis.asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamrec.streams.dev.embedded import free_port
from streamrec.streams.exceptions import DataMissing
from streamrec.streams.settings import Settings, redact_url

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo():
    try:
        Settings.from_env().resolved_data_dir()
    except DataMissing as e:
        pytest.skip(str(e))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamrec.streams.cli", "demo", "--seconds", "90",
         "--users", "40", "--rate", "1500", "--api-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # the test makes its own catalog changes: the demo's simulated sell-outs and
        # restocks of trending items would restock the item the test sold out
        env={**os.environ, "PYTHONUNBUFFERED": "1", "STREAMREC_SCENARIO": "0"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True
                     ).start()
    info: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(info) < 4 and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, "demo exited early"
            continue
        for name in ("broker", "redis", "secrets", "api"):
            if line.startswith(f"{name}: "):
                info[name] = line.split(": ", 1)[1].strip()
    assert len(info) == 4, f"demo did not print broker/redis/secrets/api: {info}"
    assert ":***@" in info["redis"]                       # the password is never printed
    env = dict(line.split("=", 1) for line in Path(info["secrets"]).read_text().split())
    assert oct(Path(info["secrets"]).stat().st_mode & 0o777) == "0o600"
    info["redis_url"] = env["STREAMREC_REDIS_URL"]
    assert redact_url(env["STREAMREC_REDIS_URL"]) == info["redis"]
    assert info["api"] == f"http://127.0.0.1:{port}"
    yield proc, info, lines
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def _closed(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), 0.5).close()
        return False
    except OSError:
        return True


async def _demo_checks(info):
    api = info["api"]
    async with aiohttp.ClientSession() as http:
        async def rec(user):
            async with http.get(f"{api}/recommendations/{user}?k=20") as r:
                assert r.status == 200
                return await r.json()

        # 1. a user of the slice gets personalised (co-visitation) recommendations
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            body = await rec("1")
            if body["policy"] != "trending" and body["items"]:
                break
            await asyncio.sleep(0.5)
        assert body and body["policy"] != "trending" and body["items"], body

        # 2. an item sold out mid-run leaves every list once the worker has applied its
        # stock event, and the worker applies it within seconds even while it replays
        sold = body["items"][0]["item_id"]
        prefix = Settings.from_env().redis.redis_prefix
        store = redis.asyncio.from_url(info["redis_url"])
        producer = AIOKafkaProducer(bootstrap_servers=info["broker"])
        await producer.start()
        try:
            sent = time.monotonic()
            await producer.send_and_wait("catalog.updates", key=sold.encode(),
                                         value=orjson.dumps({"item_id": sold, "stock": 0}))
            # 3. a malformed event lands in the DLQ
            await producer.send_and_wait("events.view", key=b"1", value=b'{"oops": ')
            while not await store.sismember(f"{prefix}oos", sold):
                assert time.monotonic() - sent < 15, f"stock event for {sold} not applied"
                await asyncio.sleep(0.02)
            print(f"stock event applied after {time.monotonic() - sent:.3f} s")
        finally:
            await producer.stop()
            await store.aclose()
        seen_after = 0
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end:
            for user in ("1", "2", "3", "5", "7", "cold-user"):
                items = [i["item_id"] for i in (await rec(user))["items"]]
                seen_after += sold in items
            await asyncio.sleep(0.2)
        assert seen_after == 0, f"sold-out item {sold} served {seen_after} times"

    consumer = AIOKafkaConsumer("events.dlq", bootstrap_servers=info["broker"],
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            found = None
            while not found:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    for m in msgs:
                        d = orjson.loads(m.value)
                        if d["value_text"] == '{"oops": ':
                            found = d
        assert found["reason"].startswith("malformed JSON") and found["topic"] == "events.view"
    finally:
        await consumer.stop()



def _children(pid: int) -> list[int]:
    """Child process ids of ``pid`` (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


async def _switches_to_the_transformer(info, lines) -> list[str]:
    """The demo trains its transformer in the background: lists are heuristic (and say
    so) until the scorer hot-loads the model, then new lists are transformer-scored."""
    out: list[str] = []
    scoring: set[str] = set()
    async with aiohttp.ClientSession() as http:
        async def poll() -> None:
            for user in range(1, 41):
                async with http.get(f"{info['api']}/recommendations/{user}?k=5") as r:
                    body = await r.json()
                scoring.add(body["scoring"])
                if body["scoring"] == "transformer":
                    assert "+seqrec-" in body["model_version"], body

        async with asyncio.timeout(120):
            while not any(line.startswith("transformer: trained") for line in out):
                while not lines.empty():
                    out.append(lines.get())
                await poll()
                await asyncio.sleep(0.2)
        assert any(line.startswith("transformer: epoch 1/") for line in out), out
        shown = {line.split("scoring: ", 1)[1].split("):")[0] for line in out
                 if line.startswith("recommendations for user")}
        assert "heuristic: the scorer has no model yet" in scoring | shown, (scoring, shown)
        async with asyncio.timeout(60):
            while "transformer" not in scoring:
                await poll()
                await asyncio.sleep(0.5)
    return out


def test_demo_end_to_end(demo):
    proc, info, lines = demo
    asyncio.run(_demo_checks(info))
    before = asyncio.run(_switches_to_the_transformer(info, lines))
    children = _children(proc.pid)
    assert len(children) >= 5, children     # broker, redis, worker, learner, scorer
    proc.send_signal(signal.SIGTERM)  # like Ctrl-C, SIGTERM stops every child cleanly
    assert proc.wait(60) == 0
    assert not [c for c in children if Path(f"/proc/{c}").exists()], "a child outlived the demo"
    out = before
    while not lines.empty():
        out.append(lines.get())
    assert any(line.startswith("recommendations for user") for line in out), out[-20:]
    time.sleep(0.5)
    assert _closed(info["broker"]), "broker still listening after the demo stopped"
    assert _closed(info["redis"].split("@")[1].split("/")[0]), "redis still up"
