"""Prometheus metrics named as controller-runtime names them: work queues (label `name` = queue name) and
API requests (`rest_client_requests_total{code,host,method}`).

One `WorkqueueMetrics` per registry owns the metric families; `for_queue(name)` gives the hooks a `WorkQueue`
calls. Depth, unfinished work and longest-running are read from the queue at scrape time, so they are exact.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from mpi_operator.kube.workqueue import QueueMetrics

if TYPE_CHECKING:
    from mpi_operator.kube.client import Client
    from mpi_operator.kube.workqueue import WorkQueue

# controller-runtime: prometheus.ExponentialBuckets(10e-9, 10, 12)
DURATION_BUCKETS = tuple(1e-8 * 10**i for i in range(12))


class WorkqueueMetrics:
    """The workqueue_* metric families in one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=registry)
        self.adds = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"],
                            registry=registry)
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being "
            "requested", ["name"], buckets=DURATION_BUCKETS, registry=registry)
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes.",
            ["name"], buckets=DURATION_BUCKETS, registry=registry)
        self.unfinished = Gauge(
            "workqueue_unfinished_work_seconds", "How many seconds of work has been done that is in progress and "
            "hasn't been observed by work_duration.", ["name"], registry=registry)
        self.longest = Gauge(
            "workqueue_longest_running_processor_seconds", "How many seconds has the longest running processor "
            "for workqueue been running.", ["name"], registry=registry)
        self.retries = Counter("workqueue_retries_total", "Total number of retries handled by workqueue", ["name"],
                               registry=registry)

    def for_queue(self, name: str) -> PrometheusQueueMetrics:
        return PrometheusQueueMetrics(self, name)


_default: WorkqueueMetrics | None = None


def default_workqueue_metrics() -> WorkqueueMetrics:
    """The families in the global registry, created once (a second registration would raise)."""
    global _default
    if _default is None:
        _default = WorkqueueMetrics(REGISTRY)
    return _default


class PrometheusQueueMetrics(QueueMetrics):
    def __init__(self, family: WorkqueueMetrics, name: str) -> None:
        self.adds = family.adds.labels(name=name)
        self.queue_duration = family.queue_duration.labels(name=name)
        self.work_duration = family.work_duration.labels(name=name)
        self.retries = family.retries.labels(name=name)
        self._depth = family.depth.labels(name=name)
        self._unfinished = family.unfinished.labels(name=name)
        self._longest = family.longest.labels(name=name)

    def attach(self, queue: WorkQueue[Hashable]) -> None:
        self._depth.set_function(lambda: float(len(queue)))
        self._unfinished.set_function(queue.unfinished_work_seconds)
        self._longest.set_function(queue.longest_running_seconds)

    def added(self) -> None:
        self.adds.inc()

    def got(self, queued_seconds: float) -> None:
        self.queue_duration.observe(queued_seconds)

    def done(self, work_seconds: float) -> None:
        self.work_duration.observe(work_seconds)

    def retried(self) -> None:
        self.retries.inc()


class RestClientMetrics:
    """`rest_client_requests_total` and `rest_client_request_duration_seconds`; use `attach(client)`."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = Counter("rest_client_requests_total",
                                "Number of HTTP requests, partitioned by status code, method, and host.",
                                ["code", "host", "method"], registry=registry)
        self.duration = Histogram("rest_client_request_duration_seconds", "Request latency in seconds.",
                                  ["host", "method"], registry=registry)

    def attach(self, client: Client) -> None:
        host = urlparse(client.host).netloc or client.host

        def observe(method: str, code: int | None, seconds: float) -> None:
            # client-go reports "<error>" when no HTTP answer came back.
            self.requests.labels(str(code) if code is not None else "<error>", host, method).inc()
            self.duration.labels(host, method).observe(seconds)

        client.observer = observe
