"""The operator loses nothing under faults: every job ends as its pods dictate, with exactly its children,
no status regression and bounded Events, while the leader is SIGKILLed and the API server misbehaves.

The short run is part of `make test`; the long one (200 jobs, three kills) runs with `make chaos`.
Replay a run with CHAOS_SEED=<seed printed in the report>.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenario import ChaosPlan, run_chaos


async def test_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = await run_chaos(ChaosPlan(jobs=40, kills=2, create_over=8, within=90), tmp_path)
    print(report.summary())
    assert len(report.kills) == 2


@pytest.mark.chaos_long
@pytest.mark.timeout(900)
async def test_long_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = await run_chaos(ChaosPlan(jobs=200, kills=3, create_over=30, within=300), tmp_path)
    print(report.summary())
    assert len(report.kills) == 3
