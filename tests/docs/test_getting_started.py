"""The getting-started walkthrough works as written: a newcomer reaches a Succeeded MPIJob on the sandbox.

The step-by-step way of docs/getting-started.md runs as real processes (`mpi-operator sandbox`, `mpi-operator
run`, `kubectl apply`) and is waited on with `kubectl wait`; `make run` has its own test (tests/operator/test_demo.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

KUBECTL = Path(sys.executable).parent / "kubectl"
PI = REPO / "tests" / "data" / "examples" / "pi.yaml"


def mpi_operator(*args: str) -> list[str]:
    return [sys.executable, "-m", "mpi_operator", *args]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    # Last started first: the operator releases its lease while the sandbox still answers. Graceful stop is
    # not under test here, so it gets 3 s before a kill.
    for proc in reversed(started):
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert proc.poll() is None, f"exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{path} not written within {within} s"
        time.sleep(0.05)


def test_step_by_step_walkthrough_reaches_succeeded(tmp_path: Path,
                                                    processes: list[subprocess.Popen[bytes]]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    sandbox = subprocess.Popen(mpi_operator("sandbox", "--port", "0", "--kubeconfig-out", str(kubeconfig)),
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(sandbox)
    wait_for_file(kubeconfig, sandbox, within=30)
    log = (tmp_path / "operator.log").open("wb")
    operator = subprocess.Popen(mpi_operator("run", "--kubeconfig", str(kubeconfig), "--health-port", "0"),
                                cwd=REPO, stdout=log, stderr=log)
    processes.append(operator)

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "c"),
                               *args], capture_output=True, text=True, timeout=120)

    applied = kubectl("apply", "-f", str(PI))
    assert applied.returncode == 0, applied.stderr
    waited = kubectl("wait", "--for=condition=Succeeded", "mpijob/pi", "--timeout=90s")
    assert waited.returncode == 0, waited.stderr + (tmp_path / "operator.log").read_text()[-3000:]
    shown = kubectl("get", "mpij", "pi")
    assert "Succeeded" in shown.stdout
