"""The issue's off-policy check on the system's own log: the demo with exploration on
writes explored lists, with their propensities, to the ``impressions`` topic (the
dataset's clicks attributed to the lists that held the clicked item), then
``streamrec ope`` estimates other policies on that topic.

Run: ``python -m streamrec.bench.ope_demo [SECONDS]`` (default 120; needs
movielens-small under ../shared/data or STREAMREC_DATA_DIR).
"""

from __future__ import annotations

import os
import subprocess
import sys

from streamrec.streams.dev.embedded import RedisServer, TansuBroker


def main(seconds: float = 120.0) -> None:
    with TansuBroker() as broker, RedisServer() as redis:
        env = {**os.environ, "STREAMREC_BROKER": broker.bootstrap,
               "STREAMREC_REDIS_URL": redis.url, "STREAMREC_EXPLORE": "1"}
        demo = [sys.executable, "-m", "streamrec.streams.cli", "demo", "--seconds",
                str(seconds), "--no-scenario"]
        subprocess.run(demo, env=env, check=True, stdout=subprocess.DEVNULL)
        topic = f"kafka://{broker.bootstrap}/impressions"
        for policy in ("random", "thompson"):
            cmd = [sys.executable, "-m", "streamrec.streams.cli", "ope", topic,
                   "--policy", policy, "--boot", "500", "--draws", "200"]
            print(f"$ streamrec ope {topic} --policy {policy}", flush=True)
            subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
