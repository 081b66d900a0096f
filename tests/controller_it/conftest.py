"""The operator's controller running as a task against a real sandbox API server over HTTP, with the real
client: no mocks. One sandbox and one controller per test module; each test uses its own namespace."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml
from prometheus_client import CollectorRegistry

from mpi_operator.controller.controller import MPIJobController
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client
from mpi_operator.sandbox import Sandbox
from tests.conftest import examples_dir

JSON = dict[str, Any]
MPIJOBS = "mpijobs.kubeflow.org"
_namespaces = itertools.count()


class Env:
    def __init__(self, sandbox: Sandbox, client: Client, controller: MPIJobController) -> None:
        self.sb = sandbox
        self.client = client
        self.controller = controller

    def namespace(self) -> str:
        name = f"it-{next(_namespaces)}"
        self.sb.store.create("namespaces", None, {"metadata": {"name": name}})
        return name

    def get(self, resource: str, namespace: str, name: str) -> JSON | None:
        return self.sb.store.find(resource, namespace, name)

    def list(self, resource: str, namespace: str) -> list[JSON]:
        return list(self.sb.store.iter_objects(resource, namespace))

    async def eventually(self, check: Callable[[], Any], within: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + within
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            await asyncio.sleep(0.02)

    async def settled(self, quiet: float = 0.5, within: float = 10.0) -> None:
        """Wait until the work queue is idle and stays idle for `quiet` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self.controller.queue.wait_idle(within):
                before = self.sb.requests.total
                await asyncio.sleep(quiet)
                if len(self.controller.queue) == 0 and self.sb.requests.total == before:
                    return
        raise AssertionError("controller did not settle")


def example(name: str) -> JSON:
    doc: JSON = yaml.safe_load((examples_dir() / name).read_text())
    return doc


@contextlib.asynccontextmanager
async def running_env(kubeconfig: Path, options: ControllerOptions | None = None,
                      gang: tuple[str, ...] = ()) -> AsyncIterator[Env]:
    """A sandbox (with the PodGroup CRDs named in `gang`) and a controller task using `options`."""
    async with Sandbox(port=0, kubeconfig_path=kubeconfig, gang=gang) as sb:
        client = await Client.connect(str(kubeconfig), qps=1000, burst=1000)
        controller = MPIJobController(client, options or ControllerOptions(), ControllerMetrics(CollectorRegistry()),
                                      queue_rate=1000, queue_burst=1000, threadiness=4)
        ready = asyncio.Event()
        task = asyncio.create_task(controller.run(ready))
        await asyncio.wait_for(ready.wait(), 10)
        try:
            yield Env(sb, client, controller)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: Any) -> AsyncIterator[Env]:
    async with running_env(tmp_path_factory.mktemp("kube") / "config") as started:
        yield started
