"""The cluster around the in-memory API server: what kube-controller-manager, kube-scheduler and a kubelet do.

Clients of the storage like any other (writes through its public methods, changes seen through `store.listen`):
the garbage collector (`gc.py`, always on: deletion propagation is API semantics) and the simulated cluster,
`Cluster` below, made of a scheduler+kubelet for one node (`kubelet.py`, pods run by `annotations.py`) and a Job
controller (`jobcontroller.py`), each optional. `Cluster` is a sandbox `Component` (async start/stop); stopping
it cancels every timer. `Sandbox(simulate=True)` runs one; by hand:

    async with Sandbox() as sb, Cluster(sb.store, kubelet=KubeletOptions(start_delay=0)) as cluster:
        cluster.evict("default", "pod-1")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from mpi_operator.sandbox.apiserver.storage import Storage
from mpi_operator.sandbox.cluster.jobcontroller import JobController
from mpi_operator.sandbox.cluster.kubelet import NODE_NAME, Kubelet


@dataclass
class KubeletOptions:
    """Delays in seconds (0 allowed); `run_seconds` is how long pods that are not long-running take to finish."""

    node_name: str = NODE_NAME
    schedule_delay: float = 0.0
    start_delay: float = 0.05
    run_seconds: float = 1.0
    termination_seconds: float = 0.0
    restart_delay: float = 0.1
    events: bool = False  # Scheduled / Started / Killing / Evicted Events (one or two extra writes per pod)


@dataclass
class JobControllerOptions:
    """`sync_delay` batches changes per Job; `backoff_base` > 0 delays replacement pods after failures."""

    sync_delay: float = 0.0
    backoff_base: float = 0.0
    backoff_max: float = 600.0
    events: bool = True


@dataclass
class SimulationOptions:
    """What `Sandbox(simulate=True, simulation=...)` runs: each part is on (defaults), off (False) or tuned."""

    kubelet: KubeletOptions | bool = True
    job_controller: JobControllerOptions | bool = True


class Cluster:
    def __init__(self, store: Storage, *, kubelet: KubeletOptions | bool = True,
                 job_controller: JobControllerOptions | bool = True) -> None:
        self.store = store
        self.kubelet: Kubelet | None = None
        self.job_controller: JobController | None = None
        if kubelet:
            opts = kubelet if isinstance(kubelet, KubeletOptions) else KubeletOptions()
            self.kubelet = Kubelet(store, **asdict(opts))
        if job_controller:
            jopts = job_controller if isinstance(job_controller, JobControllerOptions) else JobControllerOptions()
            self.job_controller = JobController(store, **asdict(jopts))

    async def start(self) -> None:
        if self.kubelet is not None:
            self.kubelet.start()
        if self.job_controller is not None:
            self.job_controller.start()

    async def stop(self) -> None:
        if self.job_controller is not None:
            self.job_controller.stop()
        if self.kubelet is not None:
            self.kubelet.stop()

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def evict(self, namespace: str, name: str,
              message: str = "The node was low on resource: memory. ") -> dict[str, Any]:
        """Node-pressure eviction of one pod (phase Failed, reason Evicted, DisruptionTarget TerminationByKubelet)."""
        if self.kubelet is None:
            raise RuntimeError("eviction needs the simulated kubelet")
        return self.kubelet.evict(namespace, name, message)
