"""`mpi-operator controlplane up`: a real control plane and node agent on this machine until interrupted.

Builds the binaries on first use (cached), starts etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, then the node agent as a child process, and prints the admin kubeconfig to point kubectl and
the operator at. `--install` also applies the operator's CRD and RBAC from manifests/ and writes a
kubeconfig with the operator ServiceAccount's own token; `--kueue` also runs Kueue with its webhooks.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mpi_operator.controlplane.binaries import Unavailable, locate
from mpi_operator.controlplane.cluster import ControlPlane, StartError
from mpi_operator.controlplane.install import install_operator_rbac, start_node_agent
from mpi_operator.controlplane.kueue import QUEUE_NAME_LABEL, Kueue
from mpi_operator.controlplane.kueue import locate as locate_kueue


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpi-operator controlplane",
                                description="Run a real Kubernetes control plane (built from Go modules) here.")
    sub = p.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start it and keep it running until Ctrl-C")
    up.add_argument("--dir", default="", help="state directory (default: a new temporary one)")
    up.add_argument("--nodes", type=int, default=2, help="nodes the node agent registers (0: no node agent)")
    up.add_argument("--runtime", choices=("auto", "process", "simulated"), default="auto",
                    help="node agent runtime (auto: real processes where the machine allows)")
    up.add_argument("--install", action="store_true",
                    help="apply the operator's CRD and RBAC from manifests/ and write operator.kubeconfig")
    up.add_argument("--kueue", action="store_true",
                    help="also build (cached) and run Kueue with its CRDs and webhooks (implies --install)")
    sub.add_parser("build", help="build (or find) the binaries and print their directory")
    return p


def up(ns: argparse.Namespace) -> int:
    try:
        binaries = locate()
        kueue_build = locate_kueue() if ns.kueue else None
    except Unavailable as e:
        print(f"mpi-operator controlplane: {e}", file=sys.stderr)
        return 2
    directory = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="mpi-operator-controlplane-"))
    cp = ControlPlane(binaries, directory)
    agent: subprocess.Popen[bytes] | None = None
    kueue: Kueue | None = None
    try:
        cp.start()
        print(f"control plane ready in {cp.startup_seconds:.1f} s at {cp.url} (state in {directory})")
        print(f"  export KUBECONFIG={cp.admin_kubeconfig}")
        if ns.install or kueue_build is not None:
            operator_kubeconfig = install_operator_rbac(cp, directory / "operator.kubeconfig")
            print(f"  operator CRD and RBAC applied; its own credentials: {operator_kubeconfig}")
            print(f"  run the operator: mpi-operator run --kubeconfig {operator_kubeconfig}")
        else:
            print(f"  run the operator: mpi-operator run --kubeconfig {cp.admin_kubeconfig}")
        if ns.nodes > 0:
            agent, line = start_node_agent(cp, nodes=ns.nodes, runtime=ns.runtime)
            print(f"  {line} (log: {cp.logs / 'node-agent.log'})")
        if kueue_build is not None:
            # After the MPIJob CRD: Kueue sets up its MPIJob integration only for a served kind.
            kueue = Kueue(cp, kueue_build, directory / "kueue").start()
            print(f"  Kueue {kueue.version} ready in {kueue.startup_seconds:.1f} s (log: {cp.logs / 'kueue.log'}); "
                  f"label MPIJobs with {QUEUE_NAME_LABEL}")
        print("Ctrl-C stops everything.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            if agent is not None and agent.poll() is not None:
                print(f"the node agent exited ({agent.returncode}); see {cp.logs / 'node-agent.log'}",
                      file=sys.stderr)
                return 1
            if kueue is not None and kueue.exited() is not None:
                print(f"Kueue exited ({kueue.exited()}); see {cp.logs / 'kueue.log'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except StartError as e:
        print(f"mpi-operator controlplane: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if kueue is not None:
            kueue.stop()
        if agent is not None and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
        cp.stop()


def main(argv: Sequence[str]) -> int:
    ns = parser().parse_args(argv)
    if ns.action == "build":
        try:
            print(locate())
        except Unavailable as e:
            print(f"mpi-operator controlplane: {e}", file=sys.stderr)
            return 2
        return 0
    return up(ns)
