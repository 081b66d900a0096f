"""Failure back-off of the simulated Job controller: replacements wait `backoff_base` seconds, doubling (§8.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.cluster import JobControllerOptions, SimulationOptions
from mpi_operator.sandbox.cluster.annotations import EXIT_CODE, RUN_SECONDS
from mpi_operator.sandbox.cluster.jobcontroller import JOBS
from tests.sandbox_sim.conftest import FAST, History, condition, job_body, unique, until

pytestmark = pytest.mark.asyncio(loop_scope="module")
NS = "default"
BASE = 0.2


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow_sandbox() -> AsyncIterator[Sandbox]:
    simulation = SimulationOptions(kubelet=FAST, job_controller=JobControllerOptions(backoff_base=BASE))
    async with Sandbox(port=0, simulate=True, simulation=simulation) as sb:
        yield sb


async def test_replacements_wait_for_an_exponential_back_off(slow_sandbox: Sandbox) -> None:
    sb = slow_sandbox
    name = unique("backoff")
    seen = History(sb.store, lambda ev: ev.info.key == "pods" and ev.name.startswith(name))
    sb.store.create(JOBS, NS, job_body(name, annotations={EXIT_CODE: "1", RUN_SECONDS: "0"}, backoffLimit=2))
    await until(sb.store, lambda: condition(sb.store.find(JOBS, NS, name), "Failed"))
    seen.close()
    created = [ev.at for ev in seen.events if ev.type == "ADDED"]
    failed: list[float] = []
    for ev in seen.events:
        if ev.object["status"].get("phase") == "Failed" and (ev.old or {}).get("status", {}).get("phase") != "Failed":
            failed.append(ev.at)
    assert len(created) == 3 and len(failed) == 3
    assert created[1] - failed[0] >= BASE * 0.9
    assert created[2] - failed[1] >= 2 * BASE * 0.9
