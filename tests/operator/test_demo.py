"""`make run` (`mpi-operator demo`): sandbox with simulation, operator process, kubectl apply of the pi
example, followed live to Succeeded; exits 0 with a summary naming the kubeconfig."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_demo_runs_the_pi_example_to_succeeded() -> None:
    out = subprocess.run([sys.executable, "-m", "mpi_operator", "demo", "--timeout", "90"], cwd=REPO,
                         capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "kubectl apply: mpijob.kubeflow.org/pi created" in out.stdout
    assert "MPIJob default/pi: Succeeded in" in out.stdout
    assert "Succeeded  True   MPIJobSucceeded" in out.stdout
    assert "kubeconfig:" in out.stdout
