"""The hook `Sandbox(simulate=True)` calls: the simulated cluster to run next to the API server.

`Sandbox(simulation=SimulationOptions(...))` tunes or switches off its parts; the built `Cluster` is also
published as `sandbox.cluster` (for `sandbox.cluster.evict(...)` and the kubelet/Job controller objects), and
node-pressure eviction is served at `POST /debug/evict?namespace=NS&name=POD`.
"""

from __future__ import annotations

from typing import Any

from mpi_operator.sandbox import debug
from mpi_operator.sandbox.cluster import Cluster, SimulationOptions


def build_simulators(sandbox: Any) -> list[Cluster]:
    options = getattr(sandbox, "simulation", None) or SimulationOptions()
    cluster = Cluster(sandbox.store, kubelet=options.kubelet, job_controller=options.job_controller)
    sandbox.cluster = cluster
    if cluster.kubelet is not None:
        sandbox.server.debug_handlers["/debug/evict"] = debug.evict_endpoint(cluster.evict)
    return [cluster]
