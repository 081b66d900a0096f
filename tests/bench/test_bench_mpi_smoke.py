"""`python -m mpi_operator.bench --target mpi --smoke` runs end to end with the process runtime on the real control
plane (the sandbox where it cannot be had) and writes every required key of bench/results-mpi.json. Its numbers
mean nothing, so only what the harness itself must get right is asserted: every job's ranks were read from the
launcher's log, on its own workers, with pi. Skipped loudly where the process runtime cannot run (not root, no
namespaces, packages missing); with CI=true that is a failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mpi_operator.bench.__main__ import main
from mpi_operator.bench.report import MPI_REQUIRED_KEYS
from mpi_operator.controlplane.binaries import Unavailable, locate
from mpi_operator.nodeagent.process import unavailable_reason


def _required(what: str, reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires {what}: {reason}")
    print(f"\n!!! {what} unavailable, the MPI bench smoke test is skipped: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def _ground() -> str:
    try:
        locate()
    except Unavailable as e:
        _required("the real control plane", str(e))
    return "real"


def test_mpi_smoke_run_times_every_rank_of_every_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _required("the process runtime", unavailable_reason())
    ground = _ground()
    output = tmp_path / "results-mpi.json"
    assert main(["--target", "mpi", "--smoke", "--ground", ground, "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    for key in MPI_REQUIRED_KEYS:
        assert results.get(key) is not None, key
    assert results["summary_ground"] == ground
    measured = results["grounds"][ground]
    for run in (*measured["single"]["runs"], measured["burst"]):
        assert run["jobs_with_pi"] == run["jobs"], run
        assert run["jobs_with_ranks_on_workers"] == run["jobs"], run
        for job in run["per_job"]:
            # Same clock, same channel: the first rank before all ranks; every rank line was written (at the
            # earliest its bound allows) before the job could succeed.
            assert 0 < job["seconds_to_first_rank"] <= job["seconds_to_all_ranks"], job
            assert job["seconds_to_all_ranks"] - job["all_ranks_bound"] <= job["seconds_to_succeeded"], job
    assert "first MPI rank running" in capsys.readouterr().out
