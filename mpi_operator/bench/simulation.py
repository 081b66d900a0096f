"""The sandbox's simulated kubelet and Job controller, when this checkout has them (they land separately).

Without them pods never run and launcher Jobs never finish, so the benchmark measures up to "all children
created" and reports the Running/Succeeded stages as not measured.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

from mpi_operator.sandbox.store import Store

# Seconds the launcher pod runs once started; the kubelet's scheduling and start delays are 0 (issue 7).
LAUNCHER_RUN_SECONDS = 1.0


def available() -> bool:
    try:
        importlib.import_module("mpi_operator.sandbox.cluster")
    except ImportError:
        return False
    return True


@contextlib.asynccontextmanager
async def simulated_cluster(store: Store, enabled: bool = True) -> AsyncIterator[Any]:
    """The Cluster attached to `store` (kubelet delays 0), or None when disabled or not available."""
    if not enabled or not available():
        yield None
        return
    cluster_mod: Any = importlib.import_module("mpi_operator.sandbox.cluster")
    kubelet = cluster_mod.KubeletOptions(schedule_delay=0.0, start_delay=0.0, run_seconds=LAUNCHER_RUN_SECONDS,
                                         termination_seconds=0.0)
    async with cluster_mod.Cluster(store, kubelet=kubelet) as cluster:
        yield cluster
