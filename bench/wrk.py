"""API load from ``wrk`` (a C load generator, Debian package ``wrk``), when installed.

The Python load generator of :mod:`streamrec.bench.api_load` shares the cores with the
server it measures; ``wrk`` costs a fraction of its CPU per request, so its numbers are
closer to what the server alone can do. Two runs: closed loop (``connections`` back to
back) and paced (each of ``paced_connections`` connections waits between its requests
so that together they offer about ``rate`` requests/s; ``wrk`` times each request from
its send, so this is a latency at that load, not a coordinated-omission-free one).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    mode: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def summary(self) -> dict[str, float | str]:
        return {"mode": self.mode, "rps": self.requests_per_s, "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms, "errors": self.errors}


def available() -> bool:
    return shutil.which("wrk") is not None


def parse(mode: str, out: str) -> WrkResult:
    """Requests/s, p50, p99 and errors from ``wrk --latency`` output.

    >>> text = '''  Latency Distribution
    ...      50%  412.00us
    ...      99%    2.31ms
    ...   Non-2xx or 3xx responses: 3
    ... Requests/sec:   6377.12'''
    >>> parse("closed", text)
    WrkResult(mode='closed', requests_per_s=6377.12, p50_ms=0.412, p99_ms=2.31, errors=3)
    """
    def pct(p: str) -> float:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return round(float(m.group(1)) * _UNITS[m.group(2)], 4) if m else float("nan")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return WrkResult(mode, float(rps.group(1)) if rps else 0.0, pct("50"), pct("99"), errors)


def _script(users: Sequence[str], k: int, delay_ms: float | None) -> str:
    ids = ", ".join(f'"{u}"' for u in users)
    lines = [f"local users = {{{ids}}}", "local i = 0",
             "request = function()", "  i = i + 1",
             f'  return wrk.format("GET", "/recommendations/" .. users[(i % #users) + 1]'
             f' .. "?k={k}")', "end"]
    if delay_ms is not None:
        lines += ["delay = function()", f"  return {delay_ms:.3f}", "end"]
    return "\n".join(lines) + "\n"


def run(host: str, port: int, users: Sequence[str], seconds: float, connections: int = 32,
        rate: float | None = None, paced_connections: int = 10, k: int = 20) -> WrkResult:
    """One ``wrk`` run against ``GET /recommendations/{user}?k=``: closed loop, or about
    ``rate`` requests/s when given."""
    conns = connections if rate is None else paced_connections
    delay = None if rate is None else max(0.0, 1000.0 * conns / rate - 1.0)  # ~1 ms/request
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(_script(users, k, delay))
        f.flush()
        out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s",
                              "--latency", "-s", f.name, f"http://{host}:{port}/"],
                             capture_output=True, text=True, check=True).stdout
    return parse("closed" if rate is None else f"~{rate:,.0f} req/s", out)
