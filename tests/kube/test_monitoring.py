"""Monitoring server and workqueue metrics: /metrics names, /healthz, /readyz with checks and reasons."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import NotFound
from mpi_operator.kube.http import MonitoringServer
from mpi_operator.kube.metrics import RestClientMetrics, WorkqueueMetrics
from mpi_operator.kube.ratelimit import ItemExponentialLimiter
from mpi_operator.kube.resource import CONFIGMAPS
from mpi_operator.kube.workqueue import WorkQueue
from tests.kube.conftest import Scripted, status


async def fetch(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


async def test_metrics_expose_controller_runtime_workqueue_names() -> None:
    registry = CollectorRegistry()
    family = WorkqueueMetrics(registry)
    q: WorkQueue[str] = WorkQueue("mpijob", rate_limiter=ItemExponentialLimiter(base=60.0),
                                  metrics=family.for_queue("mpijob"))
    q.add("a")
    q.add("b")
    key = await q.get()
    q.add_rate_limited("c")
    server = MonitoringServer(registry, host="127.0.0.1")
    [port] = await server.start(0)
    try:
        status, body = await fetch(port, "/metrics")
    finally:
        q.done(key)
        q.shutdown()
        await server.stop()
    assert status == 200
    for line in ('workqueue_depth{name="mpijob"} 1.0', 'workqueue_adds_total{name="mpijob"} 2.0',
                 'workqueue_retries_total{name="mpijob"} 1.0',
                 'workqueue_queue_duration_seconds_count{name="mpijob"} 1.0'):
        assert line in body
    for name in ("workqueue_work_duration_seconds_bucket", "workqueue_unfinished_work_seconds{",
                 "workqueue_longest_running_processor_seconds{"):
        assert name in body


async def test_healthz_answers_and_readyz_follows_checks_and_reasons() -> None:
    synced = False
    server = MonitoringServer(CollectorRegistry(), host="127.0.0.1")
    server.add_readiness_check("informers", lambda: None if synced else "pods not synced")
    ports = await server.start(0, 0)
    try:
        assert len(ports) == 2
        assert await fetch(ports[0], "/healthz") == (200, "ok")
        status, body = await fetch(ports[1], "/readyz")
        assert status == 503 and "pods not synced" in body
        synced = True
        assert await fetch(ports[1], "/readyz") == (200, "ok")
        server.set_not_ready("priorityclasses watch forbidden")
        status, body = await fetch(ports[0], "/readyz")
        assert status == 503 and "forbidden" in body
        server.set_not_ready(None)
        assert (await fetch(ports[0], "/readyz"))[0] == 200
    finally:
        await server.stop()


async def test_api_requests_are_counted_by_code_and_method(server: tuple[Scripted, str]) -> None:
    scripted, url = server
    registry = CollectorRegistry()
    metrics = RestClientMetrics(registry)
    async with await Client.connect(master=url, qps=1000, burst=1000, max_retries=0) as client:
        metrics.attach(client)
        cms = client.resource(CONFIGMAPS)
        await cms.get("x", "default")
        scripted.then(lambda: status(404, "NotFound"))
        with pytest.raises(NotFound):
            await cms.get("y", "default")
    host = url.removeprefix("http://")
    assert registry.get_sample_value("rest_client_requests_total",
                                     {"code": "200", "host": host, "method": "GET"}) == 1.0
    assert registry.get_sample_value("rest_client_requests_total",
                                     {"code": "404", "host": host, "method": "GET"}) == 1.0
    assert registry.get_sample_value("rest_client_request_duration_seconds_count",
                                     {"host": host, "method": "GET"}) == 2.0
