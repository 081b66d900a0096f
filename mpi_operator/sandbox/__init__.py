"""An in-memory Kubernetes API server and simulated cluster, its own part: it imports nothing of the operator
(it serves the MPIJob CRD from the file that ships), so one shared misreading of the API cannot hide on both sides.

Entry points: `Sandbox` (async context manager); `Sandbox.store` (an `apiserver.storage.Storage`, the in-process
API the simulators use), `Sandbox.faults` (`apiserver.faults.Faults`), `Sandbox.cluster` (`cluster.Cluster`).
Layers, one-way: `wire/` and `admission/` < `apiserver/` < `cluster/` < `sandbox.py`.
"""

from mpi_operator.sandbox.sandbox import Sandbox, StartError

__all__ = ["Sandbox", "StartError"]
