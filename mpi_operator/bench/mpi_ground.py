"""The MPI target's grounds: a real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) or the sandbox API server, each with the node agent running pods as real processes (the
process runtime: sshd, mpirun and the pi program in the pods' own namespaces).

On the real control plane the operator runs with the ServiceAccount, ClusterRole and token of
manifests/install.yaml, and the cluster's own clients get the real target's raised QPS, so that neither the
Job controller nor the scheduler sets the pace of a burst; the sandbox has no RBAC (admin credentials).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mpi_operator.bench import procfs
from mpi_operator.bench.real_cluster import COMPONENT_QPS, create_namespace
from mpi_operator.bench.started import StartedGround
from mpi_operator.controlplane.binaries import locate
from mpi_operator.controlplane.cluster import ControlPlane, StartError
from mpi_operator.controlplane.install import install_operator_rbac, start_node_agent

REAL = "real"
SANDBOX = "sandbox"
GROUNDS = (REAL, SANDBOX)
# 1 CPU per pod and 64 per node: a burst of 20 x 5 pods needs two nodes; each node is a /24 of pod IPs.
NODES = 4
AGENT_ARGS = ("--kube-api-qps", "2000", "--log-level", "WARNING")  # restart back-off as a kubelet's (10 s)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def _stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM (the node agent then removes every pod's processes, namespaces and mounts), SIGKILL after."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_line(log: Path, prefix: str, proc: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        if any(line.startswith(prefix) for line in text.splitlines()):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise StartError(f"{log.name}: no '{prefix}' line:\n{text[-3000:]}")
        time.sleep(0.05)


class MpiGround(StartedGround):
    """`async with MpiGround(name, directory) as ground:` the API server and the process-runtime node agent."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__()
        self.name = name
        self.directory = directory
        self.logs = directory / "logs"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []  # the sandbox (if any), the node agent
        self.admin_kubeconfig = directory / "admin.kubeconfig"
        self.operator_kubeconfig = self.admin_kubeconfig

    def _start(self) -> None:
        started = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.name == REAL:
            cp = ControlPlane(locate(), self.directory / "controlplane",
                              extra_controller_manager_args=[*COMPONENT_QPS, "--concurrent-job-syncs=16"],
                              extra_scheduler_args=list(COMPONENT_QPS))
            self.controlplane = cp.start()
            self.admin_kubeconfig = cp.admin_kubeconfig
            self.operator_kubeconfig = install_operator_rbac(cp, self.directory / "operator.kubeconfig")
            agent, _line = start_node_agent(cp, nodes=NODES, runtime="process", extra_args=AGENT_ARGS)
            self.processes.append(("node-agent", agent))
        else:
            self._start_sandbox()
        self.startup_seconds = time.monotonic() - started

    def _start_sandbox(self) -> None:
        """`mpi-operator sandbox` with its Job controller but no simulated kubelet; the agent binds the pods."""
        log = self.logs / "sandbox.log"
        with log.open("ab") as handle:
            sandbox = subprocess.Popen(
                [sys.executable, "-m", "mpi_operator", "sandbox", "--no-kubelet", "--kubeconfig-out",
                 str(self.admin_kubeconfig)], stdout=handle, stderr=subprocess.STDOUT, env=_env(),
                start_new_session=True)
        self.processes.append(("sandbox", sandbox))
        _wait_line(log, "kubeconfig written", sandbox, 60)
        log = self.logs / "node-agent.log"
        with log.open("ab") as handle:
            agent = subprocess.Popen(
                [sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(self.admin_kubeconfig),
                 "--nodes", str(NODES), "--runtime", "process", "--bind", *AGENT_ARGS],
                stdout=handle, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        self.processes.append(("node-agent", agent))
        _wait_line(log, "node agent ready", agent, 60)

    def _admin_kubeconfig(self) -> Path:
        return self.admin_kubeconfig

    def _stop_processes(self) -> None:
        for _name, proc in reversed(self.processes):  # the node agent first: it still needs the API server
            _stop(proc)

    @property
    def component_logs(self) -> Path:
        return self.controlplane.logs if self.controlplane is not None else self.logs

    def check_alive(self) -> None:
        """Raise when a process of the ground died (a run would otherwise only time out)."""
        for name, proc in self.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"mpi-operator {name} exited ({proc.returncode}); "
                                   f"see {self.component_logs}")
        if self.controlplane is not None:
            for component in self.controlplane.components.values():
                if component.process is None or component.process.poll() is not None:
                    raise RuntimeError(f"{component.name} exited:\n{component.tail()}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of each process of the ground (not of the pods' processes, the agent's children)."""
        pids = {name: proc.pid for name, proc in self.processes}
        if self.controlplane is not None:
            pids.update({name: c.process.pid for name, c in self.controlplane.components.items()
                         if c.process is not None})
        return {name: procfs.cpu_seconds(pid) for name, pid in pids.items()}

    async def namespace(self, name: str) -> None:
        await create_namespace(self.client, name, service_account=self.controlplane is not None)
