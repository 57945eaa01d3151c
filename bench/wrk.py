"""API load from ``wrk`` (a C load generator, Debian package ``wrk``), when installed.

The Python load generator of :mod:`streamrec.bench.api_load` shares the cores with the
server it measures; ``wrk`` costs a fraction of its CPU per request, so its numbers are
closer to what the server alone can do. One closed-loop run (``connections`` back to
back); wrk has no fixed-rate mode (latency at a set rate comes from the Python open loop).
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


def _script(users: Sequence[str], k: int, extra: str = "") -> str:
    ids = ", ".join(f'"{u}"' for u in users)
    return "\n".join([f"local users = {{{ids}}}", "local i = 0",
                      "request = function()", "  i = i + 1",
                      f'  return wrk.format("GET", "/recommendations/" .. users[(i % #users) + 1]'
                      f' .. "?k={k}{extra}")', "end"]) + "\n"


def run(host: str, port: int, users: Sequence[str], seconds: float, connections: int = 32,
        k: int = 20, extra: str = "") -> WrkResult:
    """One closed-loop ``wrk`` run against ``GET /recommendations/{user}?k=`` (``extra``
    added to the query)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(_script(users, k, extra))
        f.flush()
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                              "--latency", "-s", f.name, f"http://{host}:{port}/"],
                             capture_output=True, text=True, check=True).stdout
    return parse("closed", out)
