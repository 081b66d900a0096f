"""MPIJobs written straight into the store under a schema-less CRD (as an old or hand-edited CRD lets through):
wrong values, wrong types, missing parts, and any field (pod templates too) replaced by arbitrary JSON. The
operator process never crashes or stalls: invalid jobs get the ValidationFailed condition and a ValidationError
Event, valid ones their children, anything else at least a condition or a Warning Event; and afterwards it still
serves /healthz and reconciles a known-good job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, event, given, settings

from tests.chaos.invariants import MPIJOBS, condition_true
from tests.fuzz.mpijob_strategies import Case, cases, wild_specs
from tests.fuzz.operator_rig import NAMESPACE, FuzzRig, fuzz_rig, known_good_job_converges

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: Any) -> AsyncIterator[FuzzRig]:
    async with fuzz_rig(tmp_path_factory.mktemp("fuzz-store"), permissive=True) as r:
        yield r


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
async def test_any_stored_mpijob_is_either_reported_invalid_or_reconciled(rig: FuzzRig, case: Case) -> None:
    event(case.mutation or "valid")
    doc = case.document(rig.name())
    name = doc["metadata"]["name"]
    rig.sb.store.create(MPIJOBS, NAMESPACE, doc)
    problems = await rig.settle(case, name)
    assert not problems, f"{name} ({case.mutation or 'valid'}): {problems}\n{doc['spec']}"


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(wild_specs())
async def test_any_field_replaced_by_any_json_still_gets_an_answer(rig: FuzzRig,
                                                                   wild: tuple[dict[str, Any], str]) -> None:
    spec, change = wild
    name = rig.name()
    rig.sb.store.create(MPIJOBS, NAMESPACE, {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
                                             "metadata": {"name": name}, "spec": spec})
    assert await rig.settle_anything(name), f"{name} ({change}): no condition, no Warning Event\n{spec}"
    job = rig.find(MPIJOBS, name)
    event("reported invalid" if condition_true(job, "ValidationFailed") else
          "reconciled" if condition_true(job, "Created") else "warned")


async def test_operator_still_healthy_and_reconciling_after_the_fuzzing(rig: FuzzRig) -> None:
    await known_good_job_converges(rig)
