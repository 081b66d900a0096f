"""MPIJobs sent through the HTTP API under the real CRD: the schema refuses some (never a valid one); of those
stored, invalid ones get the ValidationFailed condition and a ValidationError Event, valid ones their children.
The operator process never crashes or stalls and afterwards still reconciles a known-good job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, event, given, settings

from tests.chaos.invariants import MPIJOBS
from tests.fuzz.mpijob_strategies import Case, cases
from tests.fuzz.operator_rig import NAMESPACE, FuzzRig, fuzz_rig, known_good_job_converges

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: Any) -> AsyncIterator[FuzzRig]:
    async with fuzz_rig(tmp_path_factory.mktemp("fuzz-api"), permissive=False) as r:
        yield r


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
async def test_any_mpijob_the_api_accepts_is_either_reported_invalid_or_reconciled(rig: FuzzRig, case: Case) -> None:
    event(case.mutation or "valid")
    doc = case.document(rig.name())
    name = doc["metadata"]["name"]
    url = f"{rig.sb.url}/apis/kubeflow.org/v2beta1/namespaces/{NAMESPACE}/mpijobs"
    async with aiohttp.ClientSession() as session, session.post(url, json=doc) as resp:
        code, body = resp.status, await resp.text()
    if code != 201:
        event("refused by the schema")
        assert not case.valid, f"the CRD schema refused a valid job ({code}): {body}\n{doc['spec']}"
        assert code in (400, 422), body
        assert rig.find(MPIJOBS, name) is None
        return
    problems = await rig.settle(case, name)
    assert not problems, f"{name} ({case.mutation or 'valid'}): {problems}\n{doc['spec']}"


async def test_operator_still_healthy_and_reconciling_after_the_fuzzing(rig: FuzzRig) -> None:
    await known_good_job_converges(rig)
