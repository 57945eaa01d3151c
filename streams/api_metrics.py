"""Requests served by one API process, for its ``/metrics``: counts by route and status,
and a latency histogram by route (Prometheus text).

Kept in the process, not in Redis: Prometheus scrapes each API process on its own, and a
Redis write per request would cost more than the request.

>>> stats = RequestStats()
>>> stats.observe("/recommendations/{user_id}", 200, 0.4)
>>> stats.observe("/recommendations/{user_id}", 400, 3.0)
>>> print("\\n".join(line for line in stats.lines() if "le=\\"0.5\\"" in line or "total{" in line))
streamrec_api_requests_total{route="/recommendations/{user_id}",status="200"} 1
streamrec_api_requests_total{route="/recommendations/{user_id}",status="400"} 1
streamrec_api_request_duration_ms_bucket{route="/recommendations/{user_id}",le="0.5"} 1
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000)


class RequestStats:
    """Counts and latency of the requests one API process served."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()
        self._buckets: dict[str, list[int]] = {}     # per route: one count per bucket + Inf
        self._sum_ms: Counter[str] = Counter()

    def observe(self, route: str, status: int, ms: float) -> None:
        self._counts[route, status] += 1
        buckets = self._buckets.get(route)
        if buckets is None:
            buckets = self._buckets[route] = [0] * (len(BUCKETS_MS) + 1)
        buckets[bisect_left(BUCKETS_MS, ms)] += 1
        self._sum_ms[route] += ms

    def lines(self) -> list[str]:
        out = ["# HELP streamrec_api_requests_total requests answered by this API process",
               "# TYPE streamrec_api_requests_total counter"]
        out += [f'streamrec_api_requests_total{{route="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(self._counts.items())]
        out += ["# HELP streamrec_api_request_duration_ms time from request to response "
                "in this API process",
                "# TYPE streamrec_api_request_duration_ms histogram"]
        for route, buckets in sorted(self._buckets.items()):
            cum = 0
            for le, n in zip([*map(str, BUCKETS_MS), "+Inf"], buckets, strict=True):
                cum += n
                out.append(f'streamrec_api_request_duration_ms_bucket{{route="{route}",'
                           f'le="{le}"}} {cum}')
            out.append(f'streamrec_api_request_duration_ms_sum{{route="{route}"}} '
                       f"{self._sum_ms[route]:g}")
            out.append(f'streamrec_api_request_duration_ms_count{{route="{route}"}} {cum}')
        return out
