"""What serving explanations costs the API: requests/s with ``?explain=1`` against without,
in interleaved rounds (``python -m streamrec.bench.explain_cost [--rounds N]``).

One back-to-back pair is at the mercy of this machine's drift (two pairs differed by 20
points in an earlier session), so the two servers run side by side on the same Redis
and lists, and each round loads one then the other, the order alternating. The lists
are the worker's own, made by the bench's throughput phase, explanations included. The
load is ``wrk`` where installed, else the Python closed loop. Reported: each round's
ratio and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys

import orjson

from streamrec.bench import wrk
from streamrec.bench.api_load import closed_loop
from streamrec.bench.pipeline import throughput
from streamrec.bench.suite import _start_server
from streamrec.streams.dev.demo import stop_worker
from streamrec.streams.dev.embedded import RedisServer, TansuBroker, free_port
from streamrec.streams.settings import Settings
from streamrec.streams.tools.dataset import events_from_ratings, read_catalog, read_ratings
from streamrec.streams.tools.models_bridge import catalog_changes


async def _rps(port: int, users: list[str], seconds: float, extra: str) -> float:
    if wrk.available():
        return (await asyncio.to_thread(wrk.run, "127.0.0.1", port, users, seconds, 32,
                                        extra=extra)).requests_per_s
    return (await closed_loop("127.0.0.1", port, users, seconds, 32, extra=extra)
            ).requests_per_s


async def measure(users: int, rounds: int, seconds: float) -> dict[str, object]:
    data = Settings.from_env().resolved_data_dir()
    ratings = read_ratings(data, users)
    user_ids = sorted({r[0] for r in ratings}, key=int)
    with TansuBroker() as broker, RedisServer() as redis:
        _, prefix = await throughput(broker, redis, list(events_from_ratings(ratings)),
                                     catalog_changes(read_catalog(data)), 2)
        env = {**os.environ, "STREAMREC_REDIS_URL": redis.url, "STREAMREC_REDIS_PREFIX": prefix}
        ports = [free_port(), free_port()]
        procs = [await _start_server([sys.executable, "-m", "streamrec.streams.cli", "api",
                                      "--api-port", str(p)], env, p) for p in ports]
        try:
            for p in ports:                                   # warm-up
                await closed_loop("127.0.0.1", p, user_ids, 1.0, 32)
            plain, explained = [], []
            for r in range(rounds):
                order = [("", plain, ports[0]), ("&explain=1", explained, ports[1])]
                for extra, into, port in order if r % 2 == 0 else order[::-1]:
                    into.append(round(await _rps(port, user_ids, seconds, extra), 1))
        finally:
            for proc in procs:
                stop_worker(proc)
    ratios = [round(e / p, 4) for p, e in zip(plain, explained, strict=True)]
    return {"load": "wrk" if wrk.available() else "python closed loop", "users": len(user_ids),
            "seconds": seconds, "plain_rps": plain, "explain_rps": explained,
            "ratios": ratios, "median_ratio": statistics.median(ratios),
            "median_cost": round(1 - statistics.median(ratios), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    print(orjson.dumps(asyncio.run(measure(a.users, a.rounds, a.seconds))).decode())


if __name__ == "__main__":
    main()
