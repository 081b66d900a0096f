"""The real target's cluster: one control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
with an audit log of the drivers' ServiceAccount, the operator's CRD and RBAC, and the node agent (simulated
runtime). Both drivers run with that ServiceAccount's token, so they pass the same authorization and API
priority level; the cluster's own clients have raised QPS, so neither the Job controller nor the scheduler sets
the pace (as on the sandbox, where they are instantaneous).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from mpi_operator.bench import procfs
from mpi_operator.bench.audit import AuditLog, apiserver_args
from mpi_operator.bench.started import StartedGround
from mpi_operator.controlplane.binaries import locate
from mpi_operator.controlplane.cluster import ControlPlane
from mpi_operator.controlplane.install import install_operator_rbac, manifests, start_node_agent
from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import NotFound

# kube-apiserver's line (cache_watcher.go) when it drops a watcher that does not keep up.
SLOW_WATCHER = re.compile(r'Forcing \S+ watcher close due to unresponsiveness: key: "(?P<key>[^"]*)", '
                          r'labels: "(?P<labels>[^"]*)", fields: "(?P<fields>[^"]*)"')
COMPONENT_QPS = ("--kube-api-qps=1000", "--kube-api-burst=2000")


def driver_username() -> str:
    """The operator ServiceAccount of manifests/install.yaml, as kube-apiserver names it."""
    account = next(d for d in manifests(kinds=("ServiceAccount",)))
    return f"system:serviceaccount:{account['metadata']['namespace']}:{account['metadata']['name']}"


class RealCluster(StartedGround):
    """`async with RealCluster(directory, nodes, run_seconds) as cluster:` everything up, then all stopped."""

    def __init__(self, directory: Path, nodes: int, run_seconds: float, concurrency: int) -> None:
        super().__init__()
        self.directory = directory
        self.nodes = nodes
        self.run_seconds = run_seconds
        self.concurrency = concurrency
        self.audit = AuditLog(directory / "audit" / "audit.log", driver_username())
        self.agent: subprocess.Popen[bytes] | None = None
        self.operator_kubeconfig = directory / "operator.kubeconfig"

    def _start(self) -> None:
        started = time.monotonic()
        cp = ControlPlane(locate(), self.directory,
                          extra_apiserver_args=apiserver_args(self.directory / "audit", self.audit.username),
                          extra_controller_manager_args=[*COMPONENT_QPS,
                                                         f"--concurrent-job-syncs={self.concurrency}"],
                          extra_scheduler_args=list(COMPONENT_QPS))
        self.controlplane = cp.start()
        install_operator_rbac(cp, self.operator_kubeconfig)
        # kube-scheduler binds the pods; the agent's QPS is raised like the other components'.
        self.agent, _line = start_node_agent(cp, nodes=self.nodes, runtime="simulated", extra_args=(
            "--run-seconds", str(self.run_seconds), "--kube-api-qps", "2000", "--log-level", "WARNING"))
        self.startup_seconds = time.monotonic() - started

    def _admin_kubeconfig(self) -> Path:
        assert self.controlplane is not None
        return self.controlplane.admin_kubeconfig

    def _stop_processes(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(15)
            except subprocess.TimeoutExpired:
                self.agent.kill()

    def check_alive(self) -> None:
        """Raise when a component of the cluster died (a run would otherwise only time out)."""
        assert self.controlplane is not None
        if self.agent is not None and self.agent.poll() is not None:
            raise RuntimeError(f"the node agent exited ({self.agent.returncode}); see {self.controlplane.logs}")
        for component in self.controlplane.components.values():
            if component.process is None or component.process.poll() is not None:
                raise RuntimeError(f"{component.name} exited:\n{component.tail()}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of each cluster process: what the drivers cost the cluster, and what set the pace."""
        assert self.controlplane is not None
        pids = {name: c.process.pid for name, c in self.controlplane.components.items() if c.process is not None}
        if self.agent is not None:
            pids["node-agent"] = self.agent.pid
        return {name: procfs.cpu_seconds(pid) for name, pid in pids.items()}

    @property
    def apiserver_log(self) -> Path:
        assert self.controlplane is not None
        return self.controlplane.logs / "kube-apiserver.log"

    def apiserver_log_mark(self) -> int:
        return self.apiserver_log.stat().st_size

    def watchers_closed_since(self, offset: int) -> dict[str, int]:
        """Watches kube-apiserver closed because their client read too slowly (its watch cache drops a watcher
        whose buffer stays full), by watch: `/pods/<namespace>/ labels=... fields=...`, since `offset`."""
        with self.apiserver_log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        closed: Counter[str] = Counter()
        for match in SLOW_WATCHER.finditer(text):
            closed[f"{match['key']} labels={match['labels']} fields={match['fields']}"] += 1
        return dict(sorted(closed.items()))

    async def namespace(self, name: str, within: float = 60.0) -> None:
        await create_namespace(self.client, name, within=within)


async def create_namespace(client: Client, name: str, service_account: bool = True, within: float = 60.0) -> None:
    """Create namespace `name` and (`service_account`: on a real API server) wait for its `default`
    ServiceAccount, since pods are refused without it."""
    await client.request("POST", "/api/v1/namespaces", body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    deadline = time.monotonic() + within
    while service_account:
        try:
            await client.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
            return
        except NotFound:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no ServiceAccount {name}/default within {within:.0f}s") from None
            await asyncio.sleep(0.05)
