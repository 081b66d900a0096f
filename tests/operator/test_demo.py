"""`make run` (`mpi-operator demo`): sandbox with simulation, operator process, kubectl apply of the pi
example, followed live to Succeeded; exits 0 with a summary naming the kubeconfig."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _process_runtime_reason() -> str | None:
    from mpi_operator.nodeagent.process import unavailable_reason

    return unavailable_reason()


def test_demo_runs_the_pi_example_to_succeeded() -> None:
    out = subprocess.run([sys.executable, "-m", "mpi_operator", "demo", "--timeout", "90"], cwd=REPO,
                         capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "kubectl apply: mpijob.kubeflow.org/pi created" in out.stdout
    assert "MPIJob default/pi: Succeeded in" in out.stdout
    assert "Succeeded  True   MPIJobSucceeded" in out.stdout
    assert "kubeconfig:" in out.stdout
    reason = _process_runtime_reason()
    if reason is None:
        # Real processes: the launcher's log shows the pi the two workers computed.
        assert "pods run as real processes" in out.stdout
        assert re.search(r"^  pi is approximately 3\.14159", out.stdout, re.MULTILINE), out.stdout
        ranks = sorted(re.findall(r"^  Rank \d of 2 running on (\S+)$", out.stdout, re.MULTILINE))
        assert ranks == ["pi-worker-0", "pi-worker-1"], out.stdout
    else:
        assert "falling back to the simulated kubelet" in out.stdout and reason in out.stdout


def test_demo_with_the_simulated_runtime_says_so() -> None:
    out = subprocess.run([sys.executable, "-m", "mpi_operator", "demo", "--runtime", "simulated", "--timeout", "90"],
                         cwd=REPO, capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "simulated kubelet (--runtime simulated): no process starts" in out.stdout
    assert "MPIJob default/pi: Succeeded in" in out.stdout


def test_an_invalid_manifest_is_reported_before_anything_starts(tmp_path: Path) -> None:
    manifest = tmp_path / "job.yaml"
    manifest.write_text((REPO / "mpi_operator" / "examples" / "pi.yaml").read_text().replace(
        "replicas: 2", "replicas: 0"))
    out = subprocess.run([sys.executable, "-m", "mpi_operator", "demo", "-f", str(manifest)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout == "", "nothing started"
    assert out.stderr.startswith(f"mpi-operator demo: {manifest}: pi: spec.mpiReplicaSpecs[Worker].replicas: ")


def test_sigterm_while_following_stops_the_demo_and_its_operator_process(tmp_path: Path) -> None:
    manifest = tmp_path / "job.yaml"  # a launcher that runs until deleted: the demo follows it until stopped
    manifest.write_text((REPO / "mpi_operator" / "examples" / "pi.yaml").read_text().replace(
        "    Launcher:\n      replicas: 1\n      template:\n",
        "    Launcher:\n      replicas: 1\n      template:\n        metadata:\n          annotations:\n"
        "            sandbox.mpi-operator/run-seconds: inf\n"))
    demo = subprocess.Popen([sys.executable, "-m", "mpi_operator", "demo", "-f", str(manifest), "--workdir",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert demo.stdout is not None
        operator_pid = 0
        for line in demo.stdout:  # the demo prints as it goes; the loop ends once the job runs
            if match := re.search(r"operator started \(pid (\d+)", line):
                operator_pid = int(match.group(1))
            if "Running" in line and "launcher" in line:
                break
        assert operator_pid
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) == 128 + signal.SIGTERM
        with pytest.raises(ProcessLookupError):
            os.kill(operator_pid, 0)
    finally:
        demo.kill()
        demo.wait()
