"""`python -m mpi_operator.bench --smoke` runs end to end on tiny sizes and writes every required key of
bench/results.json. The numbers of a smoke run mean nothing, so none is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mpi_operator.bench.__main__ import main
from mpi_operator.bench.report import REQUIRED_KEYS


def test_smoke_run_writes_results_with_every_required_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results.json"
    assert main(["--smoke", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    for key in REQUIRED_KEYS:
        assert key in results, key
        assert results[key] is not None, key
    assert set(results["targets"]) >= {"operator_vs_floor_wall_ratio", "idle_writes", "bytes_per_cached_pod"}
    for section in ("meta", "sandbox_capacity", "latency", "throughput", "scaling", "memory"):
        assert results[section], section
    assert "operator/floor" in capsys.readouterr().out
