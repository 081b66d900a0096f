"""The ground a test of this tier stands on: the sandbox or a real control plane, each with the node agent.

Everything is a real process reached over HTTP: the API server (the sandbox, or etcd + kube-apiserver +
kube-controller-manager + kube-scheduler), `mpi-operator node-agent` (simulated or process runtime) and the operator
(`mpi-operator run`). On the real control plane the operator runs with the ServiceAccount, ClusterRole
and token of manifests/, so a missing RBAC rule fails a test. Tests see both grounds through one
interface, so every test runs unchanged on both.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpi_operator.controlplane.binaries import Unavailable, locate
from mpi_operator.controlplane.cluster import ControlPlane, free_port
from mpi_operator.controlplane.install import apply, install_operator_rbac, start_node_agent, wait_established
from mpi_operator.sandbox.crds import GANG_CRDS
from tests.conftest import REPO

KUBECTL = REPO / ".venv" / "bin" / "kubectl"
GANG_SCHEDULERS = ("volcano", "scheduler-plugins-scheduler")
AGENT_ARGS = ("--restart-backoff", "1", "--run-seconds", "1")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def _wait_line(log: Path, prefix: str, proc: subprocess.Popen[bytes], within: float) -> str:
    deadline = time.monotonic() + within
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        line = next((ln for ln in text.splitlines() if ln.startswith(prefix)), None)
        if line is not None:
            return line
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: no '{prefix}' line:\n{text[-3000:]}")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


class OperatorProcess:
    """`mpi-operator run` as a child process, with /healthz and /readyz on a free port."""

    def __init__(self, ground: Ground, name: str, args: tuple[str, ...]) -> None:
        self.ground = ground
        self.name = name
        self.health_port = free_port()
        self.log = ground.logs / f"{name}.log"
        argv = [sys.executable, "-m", "mpi_operator", "run", "--kubeconfig", str(ground.operator_kubeconfig),
                "--health-port", str(self.health_port), "--lock-namespace", "mpi-operator",
                "--kube-api-qps", "200", "--kube-api-burst", "400", "--threadiness", "4", *args]
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=_env(),
                                         start_new_session=True)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, within: float = 60.0) -> OperatorProcess:
        deadline = time.monotonic() + within
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"operator {self.name} not ready:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> int:
        return stop_process(self.proc)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Ground:
    name: str                          # "sandbox" | "real"
    workdir: Path
    runtime: str = "simulated"         # the node agent's: "simulated" | "process"
    kubeconfig: Path = Path()          # admin
    operator_kubeconfig: Path = Path()
    controlplane: ControlPlane | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    operators: list[OperatorProcess] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        path = self.workdir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def real(self) -> bool:
        return self.controlplane is not None

    # ------------------------------------------------------------------ start and stop

    @classmethod
    def start(cls, name: str, workdir: Path, runtime: str = "simulated") -> Ground:
        ground = cls(name, workdir, runtime)
        try:
            ground._start_sandbox() if name == "sandbox" else ground._start_real()
        except BaseException:
            ground.stop()
            raise
        return ground

    def _start_sandbox(self) -> None:
        self.kubeconfig = self.operator_kubeconfig = self.workdir / "admin.kubeconfig"
        log = self.logs / "sandbox.log"
        argv = [sys.executable, "-m", "mpi_operator", "sandbox", "--no-kubelet", "--kubeconfig-out",
                str(self.kubeconfig), "--gang", "volcano", "--gang", "scheduler-plugins"]
        with log.open("ab") as handle:
            proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=_env(),
                                    start_new_session=True)
        self.processes.append(proc)
        _wait_line(log, "kubeconfig written", proc, 60)
        self._start_agent("--bind", "--scheduler-name", "default-scheduler",
                          *(a for s in GANG_SCHEDULERS for a in ("--scheduler-name", s)))

    def _start_real(self) -> None:
        self.controlplane = ControlPlane(locate(), self.workdir / "controlplane").start()
        self.kubeconfig = self.controlplane.admin_kubeconfig
        self.operator_kubeconfig = install_operator_rbac(self.controlplane, self.workdir / "operator.kubeconfig")
        for build in GANG_CRDS.values():
            crd = build()
            apply(self.controlplane, crd)
            wait_established(self.controlplane, crd["metadata"]["name"])
        # kube-scheduler binds default-scheduler pods; the agent stands in for the gang schedulers.
        self._start_agent("--bind", *(a for s in GANG_SCHEDULERS for a in ("--scheduler-name", s)))

    def _start_agent(self, *args: str) -> None:
        if self.controlplane is not None:
            proc, _ = start_node_agent(self.controlplane, nodes=3, runtime=self.runtime,
                                       extra_args=(*AGENT_ARGS, *args))
        else:
            log = self.logs / "node-agent.log"
            argv = [sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(self.kubeconfig),
                    "--nodes", "3", "--runtime", self.runtime, *AGENT_ARGS, *args]
            with log.open("ab") as handle:
                proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=_env(),
                                        start_new_session=True)
            _wait_line(log, "node agent ready", proc, 60)
        self.processes.append(proc)

    def stop(self) -> None:
        for op in self.operators:
            op.stop()
        for proc in reversed(self.processes):
            stop_process(proc)
        if self.controlplane is not None:
            self.controlplane.stop()

    def keep_logs(self, destination: Path) -> Path:
        """Copy every component's log (kept when a test failed)."""
        target = destination / self.name
        shutil.copytree(self.logs, target, dirs_exist_ok=True)
        if self.controlplane is not None:
            shutil.copytree(self.controlplane.logs, target / "controlplane", dirs_exist_ok=True)
        return target

    # ------------------------------------------------------------------ what tests use

    def operator(self, *args: str, name: str | None = None) -> OperatorProcess:
        op = OperatorProcess(self, name or f"operator-{len(self.operators)}", args)
        self.operators.append(op)
        return op

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout, env=_env(), check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    def restart_apiserver(self) -> None:
        assert self.controlplane is not None
        self.controlplane.restart_apiserver()

    def compact(self) -> Any:
        assert self.controlplane is not None
        return self.controlplane.compact_etcd()


def real_unavailable() -> str | None:
    """Why the real control plane cannot run here (None: it can), building it when needed."""
    try:
        locate()
    except Unavailable as e:
        return str(e)
    return None
