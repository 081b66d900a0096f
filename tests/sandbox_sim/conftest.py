"""Fixtures for the simulated-cluster tests: one sandbox with a fast kubelet and Job controller per module.

Waiting is event-driven: `until` re-checks its predicate after every store commit (no fixed sleeps), and
`History` records the watch events of chosen objects so tests can assert on their order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from kubernetes_asyncio import client, config

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.apiserver.changes import Change
from mpi_operator.sandbox.apiserver.storage import Storage
from mpi_operator.sandbox.cluster import Cluster, JobControllerOptions, KubeletOptions, SimulationOptions

Obj = dict[str, Any]
FAST = KubeletOptions(schedule_delay=0.0, start_delay=0.02, run_seconds=0.3, restart_delay=0.02)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox() -> AsyncIterator[Sandbox]:
    simulation = SimulationOptions(kubelet=FAST, job_controller=JobControllerOptions())
    async with Sandbox(port=0, simulate=True, simulation=simulation) as sb:
        yield sb


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(sandbox: Sandbox) -> Cluster:
    assert isinstance(sandbox.cluster, Cluster)
    return sandbox.cluster


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(sandbox: Sandbox, cluster: Cluster) -> AsyncIterator[client.ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(sandbox.kubeconfig_path), client_configuration=cfg)
    async with client.ApiClient(cfg) as api_client:
        yield api_client


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


async def until(store: Storage, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
    """Wait until `predicate()` is truthy, re-checking after every commit; returns its value."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def check(_ev: Change | None = None) -> None:
        if done.done():
            return
        try:
            value = predicate()
        except Exception as e:
            done.set_exception(e)
            return
        if value:
            done.set_result(value)

    unlisten = store.listen(check)
    try:
        check()
        return await asyncio.wait_for(done, timeout)
    finally:
        unlisten()


class History:
    """Every committed (type, resource key, object) for which `keep(event)` holds, in commit order."""

    def __init__(self, store: Storage, keep: Callable[[Change], bool]) -> None:
        self.events: list[Change] = []
        self._keep = keep
        self._unlisten = store.listen(self._on)

    def _on(self, ev: Change) -> None:
        if self._keep(ev):
            self.events.append(ev)

    def close(self) -> None:
        self._unlisten()

    def objects(self, key: str) -> list[Obj]:
        return [ev.object for ev in self.events if ev.info.key == key]


def condition(obj: Obj | None, type_: str) -> Obj | None:
    """The True condition `type_` of an object, if any."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def pod_body(name: str, *, annotations: dict[str, str] | None = None, restart: str = "Never",
             command: list[str] | None = None, grace: int | None = None) -> Obj:
    container: Obj = {"name": "main", "image": "busybox:1.36"}
    if command:
        container["command"] = command
    spec: Obj = {"restartPolicy": restart, "containers": [container]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}


def job_body(name: str, *, annotations: dict[str, str] | None = None, restart: str = "Never",
             command: list[str] | None = None, **spec: Any) -> Obj:
    pod = pod_body("", annotations=annotations, restart=restart, command=command)
    template = {"metadata": {"annotations": annotations or {}}, "spec": pod["spec"]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": template, **spec}}
