"""What the benchmark's grounds share: started in a thread on `async with`, an admin client once they are up,
and a stop in the right order (the client, then the ground's own processes, then the control plane) on exit
or when starting failed half-way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Self

from mpi_operator.controlplane.cluster import ControlPlane
from mpi_operator.kube.client import Client, load_configuration

BENCH_USER_AGENT = "bench-harness/1 (python)"  # admin requests (jobs, namespaces, progress watches): not audited


class StartedGround:
    """Subclasses start their processes in `_start` (blocking) and stop them in `_stop_processes`."""

    def __init__(self) -> None:
        self.controlplane: ControlPlane | None = None
        self._client: Client | None = None
        self.startup_seconds = 0.0

    @property
    def client(self) -> Client:
        assert self._client is not None
        return self._client

    def _start(self) -> None:
        raise NotImplementedError

    def _admin_kubeconfig(self) -> Path:
        raise NotImplementedError

    def _stop_processes(self) -> None:
        """Stop what `_start` started besides the control plane (a node agent still needs the API server)."""

    async def __aenter__(self) -> Self:
        try:
            await asyncio.to_thread(self._start)
            cfg = await load_configuration(str(self._admin_kubeconfig()))
            self._client = Client(cfg, qps=1e9, burst=10**9, user_agent=BENCH_USER_AGENT)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._stop()

    async def _stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        await asyncio.to_thread(self._stop_processes)
        if self.controlplane is not None:
            await asyncio.to_thread(self.controlplane.stop)
