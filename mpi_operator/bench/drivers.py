"""The two drivers a workload runs under: the operator process and the floor process. Both are started against
a sandbox's kubeconfig, report ready once their caches synced, and expose CPU and RSS through /proc.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mpi_operator.bench.floor import FLOOR_CLIENT, READY_LINE
from mpi_operator.bench.processes import OPERATOR_CLIENT, ChildProcess, OperatorProcess

OPERATOR = "operator"
FLOOR = "floor"


class OperatorDriver(OperatorProcess):
    name = OPERATOR
    client = OPERATOR_CLIENT

    async def start(self, stdout_pipe: bool = False) -> None:
        await super().start(stdout_pipe)
        await self.ready()


class FloorDriver(ChildProcess):
    name = FLOOR
    client = FLOOR_CLIENT

    def __init__(self, kubeconfig: Path, log_path: Path, namespace: str, concurrency: int, lifecycle: bool) -> None:
        super().__init__(["-m", "mpi_operator.bench.floor", "--kubeconfig", str(kubeconfig), "--namespace",
                          namespace, "--concurrency", str(concurrency), *(["--lifecycle"] if lifecycle else [])],
                         log_path)

    async def start(self, stdout_pipe: bool = True) -> None:
        await super().start(stdout_pipe=True)
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if line.decode().strip() != READY_LINE:
            self.check_alive()
            raise RuntimeError(f"floor did not report ready: {line!r}")


def make_driver(kind: str, kubeconfig: Path, log_dir: Path, namespace: str, concurrency: int,
                lifecycle: bool, extra: tuple[str, ...] = ()) -> OperatorDriver | FloorDriver:
    log_path = log_dir / f"{kind}-{namespace}.log"
    if kind == OPERATOR:
        return OperatorDriver(kubeconfig, log_path, concurrency, *extra)
    return FloorDriver(kubeconfig, log_path, namespace, concurrency, lifecycle)
