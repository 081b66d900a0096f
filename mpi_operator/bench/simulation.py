"""The sandbox's simulated kubelet and Job controller for the benchmark: worker pods go Running, launcher pods
run for `LAUNCHER_RUN_SECONDS` and their Jobs complete. Scheduling and start delays are 0 (issue 7).

Disabled (`--no-simulation`), pods never run and launcher Jobs never finish: the benchmark then measures up to
"all children created" and reports the Running/Succeeded stages as not measured.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from mpi_operator.sandbox.apiserver.storage import Storage
from mpi_operator.sandbox.cluster import Cluster, KubeletOptions

LAUNCHER_RUN_SECONDS = 1.0


@contextlib.asynccontextmanager
async def simulated_cluster(store: Storage, enabled: bool = True) -> AsyncIterator[Cluster | None]:
    if not enabled:
        yield None
        return
    kubelet = KubeletOptions(schedule_delay=0.0, start_delay=0.0, run_seconds=LAUNCHER_RUN_SECONDS,
                             termination_seconds=0.0)
    async with Cluster(store, kubelet=kubelet) as cluster:
        yield cluster
