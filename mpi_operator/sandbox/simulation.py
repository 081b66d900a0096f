"""The hook `Sandbox(simulate=True)` calls: the simulated cluster to run next to the API server.

`Sandbox(simulation=SimulationOptions(...))` tunes or switches off its parts; the built `Cluster` is also
published as `sandbox.cluster` (for `sandbox.cluster.evict(...)` and the kubelet/Job controller objects), and
node-pressure eviction is served at `POST /debug/evict?namespace=NS&name=POD`; `kubectl logs` answers from
`kubelet.pod_logs`.
"""

from __future__ import annotations

from typing import Any

from mpi_operator.sandbox import debug
from mpi_operator.sandbox.cluster import Cluster, SimulationOptions
from mpi_operator.sandbox.kubelet import pod_logs


def build_simulators(sandbox: Any) -> list[Cluster]:
    options = getattr(sandbox, "simulation", None) or SimulationOptions()
    cluster = Cluster(sandbox.store, kubelet=options.kubelet, job_controller=options.job_controller)
    sandbox.cluster = cluster
    if cluster.kubelet is not None:
        sandbox.server.debug_handlers["/debug/evict"] = debug.evict_endpoint(cluster.evict)
        if sandbox.server.log_hook is None:
            sandbox.server.log_hook = pod_logs
    return [cluster]
