"""The API's ``/metrics``, through prometheus-client.

Two kinds of figures, told apart by a label:

- **this process** (no ``scope`` label): the requests this API process served, counted by
  route and status and timed, and prometheus-client's process and GC figures. Kept in the
  process, not in Redis: Prometheus scrapes each API process on its own, and a Redis
  write per request would cost more than the request. Label children are cached per
  (route, status): the library's ``labels()`` lookup cost 4.6 us a request, the cached
  child 1.8 us (this machine, ``timeit``), against a request of ~75 us;
- **the whole cluster** (``scope="cluster"``): what every worker, the learner and the
  scorer wrote to Redis. Every API replica exports the same values: aggregate them with
  ``max``, not ``sum``.

>>> stats = RequestStats()
>>> stats.observe("/recommendations/{user_id}", 200, 0.4)
>>> stats.observe("/recommendations/{user_id}", 400, 3.0)
>>> fams = Families()
>>> fams.counter("streamrec_events_total", "valid events applied", 5)
>>> text = render(fams, stats).decode()
>>> 'streamrec_events_total{scope="cluster"} 5.0' in text
True
>>> 'streamrec_api_requests_total{route="/recommendations/{user_id}",status="400"} 1.0' in text
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

disable_created_metrics()      # no *_created series: counters and histograms only

BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000)
CLUSTER = ("scope",)


class RequestStats:
    """Counts and latency of the requests one API process served, and its process
    figures, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._count = Counter("streamrec_api_requests", "requests answered by this API "
                              "process", ["route", "status"], registry=self.registry)
        self._ms = Histogram("streamrec_api_request_duration_ms", "time from request to "
                             "response in this API process", ["route"], buckets=BUCKETS_MS,
                             registry=self.registry)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, status: int, ms: float) -> None:
        child = self._children.get((route, status))
        if child is None:
            child = self._children[route, status] = (
                self._count.labels(route, str(status)), self._ms.labels(route))
        child[0].inc()
        child[1].observe(ms)


class Families:
    """The cluster-wide figures of one scrape, read from Redis, as metric families."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []

    def counter(self, name: str, help_: str, value: float) -> None:
        m = CounterMetricFamily(name, help_ + " (cluster-wide, from Redis)", labels=CLUSTER)
        m.add_metric(["cluster"], value)
        self.metrics.append(m)

    def gauge(self, name: str, help_: str, value: float) -> None:
        self.labelled(name, "gauge", help_, (), [((), value)])

    def labelled(self, name: str, kind: str, help_: str, labels: Sequence[str],
                 samples: Iterable[tuple[Sequence[str], float]]) -> None:
        """One family with ``labels`` (and the cluster scope) and its samples."""
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        m = cls(name, help_ + " (cluster-wide, from Redis)", labels=[*labels, *CLUSTER])
        for values, v in samples:
            m.add_metric([*values, "cluster"], v)
        self.metrics.append(m)

    def histogram(self, name: str, help_: str, buckets: Sequence[tuple[str, float]],
                  total: float) -> None:
        """``buckets``: (upper bound, cumulative count), ``+Inf`` last."""
        m = HistogramMetricFamily(name, help_ + " (cluster-wide, from Redis)", labels=CLUSTER)
        m.add_metric(["cluster"], list(buckets), sum_value=total)
        self.metrics.append(m)

    def collect(self) -> Iterable[Metric]:
        return iter(self.metrics)


def render(families: Families, stats: RequestStats) -> bytes:
    """The Prometheus text of one scrape: the cluster's figures, then this process's."""
    scrape = CollectorRegistry()
    scrape.register(families)
    return generate_latest(scrape) + generate_latest(stats.registry)
