"""``streamrec demo``: embedded broker + Redis, worker, API, a real dataset replayed.

Prints ``broker: HOST:PORT``, ``redis: URL`` (password shown as ``***``), ``secrets: FILE``
(a file only you can read: the Redis URL with its password, the admin token and the
snapshot key made for this run, as ``STREAMREC_*=`` lines) and ``api: URL``, then live
recommendations. Stops everything on Ctrl-C/SIGTERM or after ``--seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp

from streamrec.models.experiments import Experiment
from streamrec.state.redis_store import RedisStore
from streamrec.streams import schemas
from streamrec.streams.api.server import start_api
from streamrec.streams.dev import demo_model
from streamrec.streams.dev.embedded import RedisServer, TansuBroker, _die_with_parent
from streamrec.streams.exceptions import StreamrecError
from streamrec.streams.settings import Settings, redact_url
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.replay import Producer, replay_catalog, replay_events
from streamrec.streams.topics import ensure_topics


def say(line: str) -> None:
    print(line, flush=True)


def start_worker(settings: Settings, role: str = "worker", args: Sequence[str] = (),
                 module: str = "streamrec.streams.cli") -> subprocess.Popen:
    """Start ``streamrec <role> [args]`` (worker, learner, scorer) as a child process (or
    ``python -m <module> [args]`` with ``role`` empty)."""
    env = {**os.environ, **settings.to_env()}
    # stdout only carries Faust's spinner; logs and errors go to stderr. If this process
    # dies without stopping it, the child is killed outright: a Faust worker told to stop
    # after its broker is gone retries the broker forever (seen at 50% CPU for an hour);
    # what it had not committed is replayed by the next worker, and deduplicated
    return subprocess.Popen([sys.executable, "-m", module, *([role] if role else []), *args],
                            env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            preexec_fn=functools.partial(_die_with_parent, signal.SIGKILL))


def stop_worker(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def write_secrets(settings: Settings, folder: Path) -> Path:
    """The run's secrets as ``STREAMREC_*=value`` lines in a file only the owner can read."""
    path = folder / "secrets.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        env = settings.to_env()
        for name in ("STREAMREC_REDIS_URL", "STREAMREC_ADMIN_TOKEN", "STREAMREC_SNAPSHOT_KEY"):
            f.write(f"{name}={env[name]}\n")
    return path


async def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None
                   ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        if proc is not None and proc.poll() is not None:
            raise StreamrecError(f"worker exited with {proc.returncode} while waiting for {what}")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


async def run_demo(settings: Settings, seconds: float) -> int:
    data_dir = settings.resolved_data_dir()  # fail early, with the fix, if data is missing
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.ExitStack() as stack:
        if not settings.kafka.broker:
            broker = stack.enter_context(TansuBroker())
            settings = settings.replace(broker=broker.bootstrap)
        if not settings.redis.redis_url:
            redis = stack.enter_context(RedisServer())
            settings = settings.replace(redis_url=redis.url)
        settings = settings.replace(
            snapshot_key=(settings.serving.snapshot_key.get_secret_value()
                          or secrets.token_hex(32)),
            admin_token=(settings.serving.admin_token.get_secret_value()
                         or secrets.token_urlsafe(32)))
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="streamrec-demo-"))
        if settings.demo.demo_transformer:
            settings = demo_model.scorer_settings(settings, Path(folder))
        say(f"broker: {settings.kafka.broker}")
        say(f"redis: {redact_url(settings.redis.redis_url)}")
        say(f"secrets: {write_secrets(settings, Path(folder))}")
        await ensure_topics(settings)
        worker = start_worker(settings)
        stack.callback(stop_worker, worker)
        learner = start_worker(settings, "learner")   # River models, published as snapshots
        stack.callback(stop_worker, learner)
        if settings.demo.demo_transformer:     # answers "no model yet" until it is trained
            stack.callback(stop_worker, start_worker(settings, "scorer"))
        runner, url = await start_api(settings)
        try:
            say(f"api: {url}")
            say(f"dashboard: {url}/dashboard")
            await _replay_and_show(settings, data_dir, url, worker, stop, seconds,
                                   Path(folder))
        finally:
            await runner.cleanup()
    say("demo stopped")
    return 0


def live(ratings: list[tuple[str, str, float, float]], loop: bool
         ) -> Iterator[tuple[str, dict]]:
    """The dataset's events; with ``loop``, then again and again as live traffic: event
    time now, event ids of their round (so they are not deduplicated away)."""
    yield from events_from_ratings(ratings)
    rounds = itertools.count(1) if loop else ()
    for r in rounds:
        for kind, ev in events_from_ratings(ratings):
            yield kind, {**ev, "event_id": f"{ev['event_id']}-r{r}", "ts": time.time()}


async def _replay_and_show(settings: Settings, data_dir, url: str, worker: subprocess.Popen,
                           stop: asyncio.Event, seconds: float, folder: Path) -> None:
    catalog = read_catalog(data_dir, settings.serving.seed)
    titles = {c["item_id"]: c["title"] for c in catalog}
    ratings = read_ratings(data_dir, settings.demo.replay_users)
    users = sorted({r[0] for r in ratings}, key=int)
    async with settings.open_store() as store, \
            Producer(settings) as producer, aiohttp.ClientSession() as http:
        await replay_catalog(producer, catalog)
        if settings.demo.demo_experiment and await store.create_experiment(Experiment(
                name=settings.demo.demo_experiment, variants=["blend", "covisit"],
                allocation="bandit")):
            say(f"experiment: {settings.demo.demo_experiment} (blend against covisit, "
                f"bandit allocation; pause, resume or stop it on the dashboard)")

        async def catalog_loaded() -> bool:
            m, _, _ = await store.read_metrics()
            return m.get("catalog_total", 0) >= len(catalog)

        await wait_for(catalog_loaded, 120, "the worker to load the catalog", worker)
        say(f"catalog: {len(catalog)} items (prices and stock simulated, "
            f"seed {settings.serving.seed})")
        say(f"replay: {len(ratings)} ratings of {len(users)} users at "
            f"{settings.demo.replay_rate or 'max'} events/s from {data_dir}")
        k = settings.ranking.k

        async def in_list(user: str, item: str) -> str | None:
            """The impression id of the user's list if it holds ``item``."""
            raw = await store.client.get(store.key("rec:" + user))
            rec = schemas.decode_list(raw) if raw else None
            return rec.impression_id if rec and item in {i.item_id for i in rec.items[:k]} \
                else None

        replay = asyncio.create_task(replay_events(
            producer, live(ratings, settings.demo.replay_loop), settings.demo.replay_rate,
            stop, clicker=in_list))
        training = (asyncio.create_task(demo_model.train(settings, folder, say))
                    if settings.demo.demo_transformer else None)
        scenario = (asyncio.create_task(
            simulate_catalog(store, producer, catalog, settings.serving.seed, stop))
            if settings.demo.scenario else None)
        await _show(http, url, users, titles, worker, stop, seconds)
        stop.set()
        if training is not None:
            training.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await training
        n = await replay
        if scenario is not None:
            await scenario
        say(f"replayed {n} events")


async def _show(http: aiohttp.ClientSession, url: str, users: list[str],
                titles: dict[str, str], worker: subprocess.Popen, stop: asyncio.Event,
                seconds: float) -> None:
    """Every 2 s, one user's list as the API serves it, until stopped or ``seconds``."""
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    shown = 0
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            left = max(0.01, deadline - time.monotonic())
            await asyncio.wait_for(stop.wait(), min(2.0, left))
        if worker.poll() is not None:
            say(f"worker exited with {worker.returncode}")
            break
        user = users[shown % len(users)]
        shown += 1
        async with http.get(f"{url}/recommendations/{user}?k=5") as r:
            body = await r.json()
        names = ", ".join(titles.get(i["item_id"], i["item_id"]) for i in body["items"])
        say(f"recommendations for user {user} ({body['policy']}, {body['model_version']}, "
            f"scoring: {body.get('scoring', 'heuristic')}): {names}")


async def simulate_catalog(store: RedisStore, producer: Producer, catalog: list[dict],
                           seed: int, stop: asyncio.Event, every_s: float = 3.0) -> None:
    """SIMULATED live catalog (seeded): a trending item sells out and is restocked two
    steps later; another trending item changes price. Announced on stdout."""
    rng = random.Random(seed)
    info = {c["item_id"]: dict(c) for c in catalog}
    sold: list[tuple[int, str]] = []
    step = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        if stop.is_set():
            break
        step += 1
        trending = [i for i, _ in await store.client.zrevrange(store.key("pop"), 0, 19,
                                                                withscores=True)]
        if not trending:
            continue
        for when, item in [x for x in sold if x[0] <= step]:
            sold.remove((when, item))
            await producer.send("catalog.updates", item, {"item_id": item, "stock": 20})
            say(f"scenario (simulated): restocked {info[item]['title']}")
        item = rng.choice(trending)
        if item in info and all(item != i for _, i in sold):
            await producer.send("catalog.updates", item, {"item_id": item, "stock": 0})
            sold.append((step + 2, item))
            say(f"scenario (simulated): sold out {info[item]['title']}")
        item = rng.choice(trending)
        if item in info:
            old = info[item]["price"]
            new = round(old * rng.uniform(0.6, 1.2), 2)
            info[item]["price"] = new
            await producer.send("catalog.updates", item, {"item_id": item, "price": new})
            say(f"scenario (simulated): price of {info[item]['title']} {old} -> {new}")
        await producer.flush()
