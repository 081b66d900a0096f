"""`mpi-operator demo` (what `make run` does): the sandbox with its Job controller, the node agent running
the pods as real processes (sshd, mpirun) where the machine allows it, else the sandbox's simulated kubelet,
the operator as a real process, the pi example applied with kubectl, the job's progress shown live until it
succeeds, and the launcher's output: the pi the workers computed. `--keep` leaves everything running.

Invariant: exit 0 only when the MPIJob reached Succeeded; any other end says why in one line (a bad flag or
manifest before anything starts, a port in use, the operator's own error if it exits) and exits non-zero.
SIGINT/SIGTERM stop the operator and the sandbox before the demo exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from mpi_operator.api.documents import Document, for_each_valid_mpijob
from mpi_operator.api.types import MPIJob
from mpi_operator.cliflags import OneLineParser, log_level, port, seconds
from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.cluster import SimulationOptions
from mpi_operator.sandbox.sandbox import StartError

EXAMPLE = Path(__file__).parent / "examples" / "pi.yaml"
MPIJOBS = "mpijobs.kubeflow.org"
PROG = "mpi-operator demo"


class DemoError(Exception):
    """The demo cannot go on; the message says why (and where to look)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


class Demo:
    def __init__(self, args: argparse.Namespace, job_doc: dict[str, Any]) -> None:
        self.args = args
        self.job_doc = job_doc
        try:
            self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mpi-operator-demo-"))
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoError(f"cannot use --workdir {args.workdir}: {exc.strerror or exc}") from None
        self.kubeconfig = self.workdir / "kubeconfig"
        self.log_path = self.workdir / "operator.log"
        self.agent_log = self.workdir / "node-agent.log"
        self.started = time.monotonic()
        self.operator: asyncio.subprocess.Process | None = None
        self.agent: asyncio.subprocess.Process | None = None

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    async def run(self) -> int:
        manifest = Path(self.args.filename) if self.args.filename else EXAMPLE
        job_doc = self.job_doc
        name = job_doc["metadata"]["name"]
        namespace = job_doc["metadata"].get("namespace") or "default"
        real_processes, note = self._choose_runtime()
        simulation = SimulationOptions(kubelet=not real_processes)
        sb = Sandbox(port=self.args.port, simulate=True, simulation=simulation, kubeconfig_path=self.kubeconfig)
        try:
            await sb.start()
        except StartError as exc:
            raise DemoError(f"{exc} (--port {self.args.port}); pick another port, or 0 for a free one") from None
        try:
            self.say(f"sandbox API server at {sb.url} (kubeconfig {self.kubeconfig})")
            if note:
                self.say(note)
            if real_processes and not await self._start_agent():
                return 1
            if not await self._start_operator(_free_port()):
                return 1
            self.say(f"applying {manifest}")
            await self._apply(sb, manifest, job_doc, namespace)
            outcome = await self._follow(sb, namespace, name)
            await self._launcher_output(namespace, name)
            self._summary(sb, namespace, name, outcome)
            if self.args.keep:
                await self._keep_running()
            return 0 if outcome == "Succeeded" else 1
        finally:
            # Also on Ctrl-C or SIGTERM (cancellation): no operator or agent process may outlive the demo.
            await self._stop_operator()
            await self._stop(self.agent)
            await sb.stop()

    def _choose_runtime(self) -> tuple[bool, str]:
        """Whether pods run as real processes (the node agent's process runtime), and what to tell the user."""
        if self.args.runtime == "simulated":
            return False, "pods run on the sandbox's simulated kubelet (--runtime simulated): no process starts"
        try:
            from mpi_operator.nodeagent.process import unavailable_reason
        except ImportError as exc:
            reason: str | None = f"the process runtime is not installed ({exc})"
        else:
            reason = unavailable_reason()
        if reason is None:
            return True, "pods run as real processes (node agent, process runtime): sshd and mpirun for real"
        if self.args.runtime == "process":
            raise DemoError(f"--runtime process: the process runtime cannot run here: {reason}")
        return False, (f"the process runtime cannot run here ({reason}): falling back to the simulated kubelet; "
                       "pods run as timers and no MPI process starts")

    async def _start_agent(self) -> bool:
        log = self.agent_log.open("wb")
        self.agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mpi_operator", "node-agent", "--kubeconfig", str(self.kubeconfig), "--bind",
            "--runtime", "process", "--nodes", "2", "--restart-backoff", "1", stdout=log, stderr=log,
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.agent_log.read_text(errors="replace")
            ready = next((ln for ln in text.splitlines() if ln.startswith("node agent ready")), None)
            if ready is not None:
                self.say(f"{ready} (log {self.agent_log})")
                return True
            if self.agent.returncode is not None:
                self.say(f"node agent exited with {self.agent.returncode}; its log: {self.agent_log}")
                return False
            await asyncio.sleep(0.1)
        self.say(f"node agent not ready after 60 s; see {self.agent_log}")
        return False

    async def _launcher_output(self, namespace: str, name: str) -> None:
        kubectl = _kubectl()
        if kubectl is None:
            return
        proc = await asyncio.create_subprocess_exec(
            kubectl, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.workdir / "kubectl-cache"),
            "logs", "-n", namespace, f"job/{name}-launcher", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        text = out.decode(errors="replace").rstrip()
        if text:
            print(f"\nkubectl logs job/{name}-launcher:")
            for line in text.splitlines():
                if not line.startswith("Warning: Permanently added"):
                    print(f"  {line}")

    async def _start_operator(self, health: int) -> bool:
        log = self.log_path.open("wb")
        self.operator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mpi_operator", "run", "--kubeconfig", str(self.kubeconfig),
            "--health-port", str(health), "--monitoring-port", str(self.args.metrics_port),
            "--lock-namespace", "mpi-operator", "--log-level", self.args.log_level,
            "--kube-api-qps", "50", "--kube-api-burst", "100", stdout=log, stderr=log,
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"})
        self.say(f"operator started (pid {self.operator.pid}, log {self.log_path})")
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.operator.returncode is not None:
                    self.say(f"operator exited with {self.operator.returncode}: {self._operator_error()}")
                    self.say(f"its log: {self.log_path}")
                    return False
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{health}/readyz") as resp:
                        if resp.status == 200:
                            self.say("operator ready (caches synced, leading)")
                            return True
                await asyncio.sleep(0.1)
        self.say(f"operator not ready after 30 s; see {self.log_path}")
        return False

    def _operator_error(self) -> str:
        """The operator's own account of why it stopped: its last ERROR line."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        errors = [line.split(" ERROR ", 1)[1] for line in lines if " ERROR " in line]
        return errors[-1] if errors else (lines[-1] if lines else "no output")

    async def _stop_operator(self) -> None:
        await self._stop(self.operator)

    @staticmethod
    async def _stop(process: asyncio.subprocess.Process | None) -> None:
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _apply(self, sb: Sandbox, manifest: Path, job_doc: dict[str, Any], namespace: str) -> None:
        kubectl = _kubectl()
        if kubectl is None:
            sb.store.create(MPIJOBS, namespace, job_doc)
            self.say("kubectl not found: created the MPIJob through the API")
            return
        cache = self.workdir / "kubectl-cache"
        proc = await asyncio.create_subprocess_exec(
            kubectl, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(cache), "apply", "-f", str(manifest),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        self.say(f"kubectl apply: {out.decode().strip()}")
        if proc.returncode != 0:
            raise DemoError(f"kubectl apply of {manifest} failed (exit {proc.returncode}); its output is above")

    async def _follow(self, sb: Sandbox, namespace: str, name: str) -> str:
        last = ""
        finished_at: float | None = None
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            job = sb.store.find(MPIJOBS, namespace, name) or {}
            conditions = [c for c in (job.get("status") or {}).get("conditions") or []]
            true = [c["type"] for c in conditions if c.get("status") == "True"]
            pods = sorted(
                (p["metadata"]["name"], (p.get("status") or {}).get("phase", "Pending"))
                for p in sb.store.iter_objects("pods", namespace)
                if (p["metadata"].get("labels") or {}).get("training.kubeflow.org/job-name") == name)
            line = f"MPIJob {namespace}/{name}: {', '.join(true) or 'no conditions yet'} | pods: " + (
                ", ".join(f"{pod} {phase}" for pod, phase in pods) or "none")
            if line != last:
                self.say(line)
                last = line
            if "ValidationFailed" in true:
                return "ValidationFailed"  # the operator will not run it until the spec is fixed
            outcome = next((t for t in ("Succeeded", "Failed") if t in true), None)
            if outcome is not None:
                # Show cleanPodPolicy at work: wait (briefly) until no worker is left running.
                live = [pod for pod, phase in pods if "-worker-" in pod and phase in ("Running", "Pending")]
                finished_at = finished_at or time.monotonic()
                if not live or time.monotonic() - finished_at > 15:
                    return outcome
            await asyncio.sleep(0.1)
        return "timed out"

    def _summary(self, sb: Sandbox, namespace: str, name: str, outcome: str) -> None:
        job = sb.store.find(MPIJOBS, namespace, name) or {}
        status = job.get("status") or {}
        print()
        print(f"MPIJob {namespace}/{name}: {outcome} in {time.monotonic() - self.started:.1f} s")
        for c in status.get("conditions") or []:
            print(f"  {c['type']:<10} {c['status']:<6} {c.get('reason', '')}: {c.get('message', '')}")
        print(f"  replicaStatuses: {status.get('replicaStatuses')}")
        print(f"  operator log: {self.log_path}")
        print(f"  kubeconfig:   {self.kubeconfig}")
        where = "while this keeps running" if self.args.keep else "(rerun with `make run ARGS=--keep` to keep it up)"
        print(f"  look around {where}:")
        print(f"    .venv/bin/kubectl --kubeconfig {self.kubeconfig} get mpijobs,pods,jobs,events")

    async def _keep_running(self) -> None:
        print("Sandbox and operator keep running; Ctrl-C stops them.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def first_valid_mpijob(path: Path) -> dict[str, Any]:
    """The first MPIJob of the manifest, checked offline as `mpi-operator validate` does; DemoError says why not."""
    found: list[dict[str, Any]] = []

    def keep(_name: str, document: Document, _job: MPIJob) -> None:
        found.append(document.content)

    problems = io.StringIO()
    status = for_each_valid_mpijob([str(path)], keep, skipped=io.StringIO(), err=problems)
    if status != 0 or not found:
        raise DemoError(problems.getvalue().rstrip())  # each line names the file and the document
    return found[0]


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=__doc__)
    p.add_argument("-f", "--filename", help="MPIJob manifest to run (default: the pi example)")
    p.add_argument("--port", type=port, default=0, help="sandbox API server port (default: a free one)")
    p.add_argument("--metrics-port", type=port, default=0, help="operator /metrics port (default: off)")
    p.add_argument("--workdir", help="where the kubeconfig and operator log go (default: a temp dir)")
    p.add_argument("--timeout", type=seconds(exclusive=True), default=180.0,
                   help="seconds to wait for the job to finish")
    p.add_argument("--keep", action="store_true", help="keep the sandbox and operator running afterwards")
    p.add_argument("--runtime", choices=("auto", "process", "simulated"), default="auto",
                   help="run the pods as real processes (process, needs root and namespaces), as timers "
                        "(simulated), or as processes where this machine allows it (auto, the default)")
    p.add_argument("--log-level", type=log_level, default="INFO",
                   help="the operator's log level (its log goes to a file)")
    return p


async def _run_until_signalled(demo: Demo) -> int:
    """Run the demo; SIGTERM cancels it like Ctrl-C does, so the operator process and the sandbox are stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await demo.run()
    except asyncio.CancelledError:
        return 128 + signal.SIGTERM


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        job_doc = first_valid_mpijob(Path(args.filename) if args.filename else EXAMPLE)
        return asyncio.run(_run_until_signalled(Demo(args, job_doc)))
    except DemoError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
