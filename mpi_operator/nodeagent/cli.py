"""`mpi-operator node-agent`: run the node agent against an API server until interrupted.

`--runtime auto` (the default) uses the process runtime where this machine allows it (root, namespaces,
sshd and MPI installed) and otherwise says why and falls back to the simulated runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from mpi_operator.nodeagent.agent import AgentOptions, NodeAgent
from mpi_operator.nodeagent.runtime import Runtime
from mpi_operator.nodeagent.simulated import SimulatedRuntime

log = logging.getLogger("mpi_operator.nodeagent")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpi-operator node-agent",
                                description="Register nodes and run the pods bound to them (a kubelet stand-in).")
    p.add_argument("--kubeconfig", default="", help="kubeconfig path (default $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--master", default="", help="API server URL (overrides the kubeconfig)")
    p.add_argument("--nodes", type=int, default=2, help="how many nodes to register (node-0, node-1, ...)")
    p.add_argument("--node-prefix", default="node-", help="node names are this prefix and an index")
    p.add_argument("--runtime", choices=("auto", "process", "simulated"), default="auto",
                   help="run containers as real processes (process), as timers (simulated), or process where "
                        "the machine allows (auto)")
    p.add_argument("--bind", action="store_true",
                   help="bind unscheduled pods to the nodes (for API servers without a scheduler, the sandbox)")
    p.add_argument("--scheduler-name", action="append", default=[],
                   help="with --bind, the schedulerName values to bind (default: default-scheduler)")
    p.add_argument("--run-seconds", type=float, default=1.0,
                   help="simulated runtime: seconds a pod that is not long-running runs before exiting 0")
    p.add_argument("--restart-backoff", type=float, default=10.0,
                   help="first container restart back-off in seconds, doubling to 300 (kubelet: 10)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    p.add_argument("--kubelet-port", type=int, default=0, help="port of the log endpoint; 0 picks a free one")
    p.add_argument("--kube-api-qps", type=float, default=200.0, help="client requests per second")
    p.add_argument("--log-level", default="INFO")
    return p


def process_runtime_or_reason(**kwargs: Any) -> tuple[Runtime[Any] | None, str]:
    """The process runtime, or None and why it cannot run here."""
    try:
        module = importlib.import_module("mpi_operator.nodeagent.process")
    except ImportError as e:
        return None, f"the process runtime is not part of this install ({e})"
    reason = module.unavailable_reason()
    if reason:
        return None, str(reason)
    return module.ProcessRuntime(**kwargs), ""


def choose_runtime(kind: str, run_seconds: float, cluster_domain: str = "cluster.local",
                   ) -> tuple[Runtime[Any], str]:
    """The runtime for `kind`, and a note for the user when `auto` fell back to the simulated one."""
    if kind == "simulated":
        return SimulatedRuntime(run_seconds=run_seconds), ""
    runtime, reason = process_runtime_or_reason(cluster_domain=cluster_domain)
    if runtime is not None:
        return runtime, ""
    if kind == "process":
        raise SystemExit(f"mpi-operator node-agent: the process runtime cannot run here: {reason}")
    return SimulatedRuntime(run_seconds=run_seconds), (
        f"the process runtime cannot run here ({reason}); falling back to the simulated runtime: pods run "
        "as timers, no process starts")


async def serve(ns: argparse.Namespace) -> int:
    from mpi_operator.kube.client import Client

    runtime, note = choose_runtime(ns.runtime, ns.run_seconds, ns.cluster_domain)
    if note:
        log.warning(note)
    options = AgentOptions(nodes=tuple(f"{ns.node_prefix}{i}" for i in range(ns.nodes)), bind=ns.bind,
                           schedulers=tuple(ns.scheduler_name) or ("default-scheduler",),
                           cluster_domain=ns.cluster_domain, restart_backoff=ns.restart_backoff,
                           kubelet_port=ns.kubelet_port)
    client = await Client.connect(ns.kubeconfig, ns.master, qps=ns.kube_api_qps, burst=int(ns.kube_api_qps))
    agent = NodeAgent(client, runtime, options)
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.ensure_future(ready.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, stopper, task], return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print(f"node agent ready: nodes {', '.join(options.nodes)}; {runtime.name} runtime; kubelet endpoint "
              f"port {agent.kubelet_port}", flush=True)
        await asyncio.wait([stopper, task], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    stopper.cancel()
    failure = task.exception() if task.done() and not task.cancelled() else None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    await client.close()
    if failure is not None:
        print(f"mpi-operator node-agent: {failure}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    ns = parser().parse_args(argv)
    logging.basicConfig(level=ns.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(ns))
