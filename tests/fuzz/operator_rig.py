"""A sandbox plus the operator as a real process, for fuzzing MPIJobs end to end; and the verdict on one job.

`settle(case, name)` waits for what the case dictates and returns the problems: an invalid job must get the
ValidationFailed condition and a ValidationError Event and no children; a valid one its Service, ConfigMap,
Secret, workers (unless suspended) and launcher Job (unless it waits for Ready workers), and no
ValidationFailed condition.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.crds import mpijob_crd
from tests.chaos.invariants import MPIJOBS, condition_true
from tests.chaos.operator_process import FAST_FLAGS, OperatorProcess
from tests.fuzz.mpijob_strategies import Case, container

NAMESPACE = "default"


def permissive_mpijob_crd() -> dict[str, Any]:
    """The MPIJob CRD with no schema at all (an old or hand-edited CRD): the server stores whatever it gets."""
    crd = copy.deepcopy(mpijob_crd())
    for version in crd["spec"]["versions"]:
        version["schema"] = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return crd


@dataclass
class FuzzRig:
    sb: Sandbox
    operator: OperatorProcess
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def name(self) -> str:
        return f"fz-{next(self._names)}"

    def find(self, resource: str, name: str) -> dict[str, Any] | None:
        return self.sb.store.find(resource, NAMESPACE, name)

    def validation_events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.sb.store.iter_objects("events", NAMESPACE)
                if (e.get("involvedObject") or {}).get("name") == name and e.get("reason") == "ValidationError"]

    def _verdict(self, case: Case, name: str) -> list[str]:
        job = self.find(MPIJOBS, name)
        if job is None:
            return ["the MPIJob is gone"]
        failed = condition_true(job, "ValidationFailed")
        if not case.valid:
            missing = [] if failed else ["no ValidationFailed condition"]
            return missing + ([] if self.validation_events(name) else ["no ValidationError Event"])
        problems = ["ValidationFailed on a valid job"] if failed else []
        wanted = [("services", name), ("configmaps", f"{name}-config"), ("secrets", f"{name}-ssh")]
        if not case.suspended:
            wanted += [("pods", f"{name}-worker-{i}") for i in range(case.workers)]
        if case.launcher_at_start:
            wanted.append(("jobs.batch", f"{name}-launcher"))
        problems += [f"no {resource}/{child}" for resource, child in wanted if self.find(resource, child) is None]
        if not condition_true(job, "Created"):
            problems.append("no Created condition")
        return problems

    def told(self, name: str) -> bool:
        """The user hears about the job: ValidationFailed, a Created condition, or a Warning Event on it."""
        job = self.find(MPIJOBS, name)
        warned = any((e.get("involvedObject") or {}).get("name") == name and e.get("type") == "Warning"
                     for e in self.sb.store.iter_objects("events", NAMESPACE))
        return condition_true(job, "ValidationFailed") or condition_true(job, "Created") or warned

    async def settle_anything(self, name: str, within: float = 20.0) -> bool:
        deadline = time.monotonic() + within
        while not self.told(name) and time.monotonic() < deadline:
            assert self.operator.alive, "the operator exited:\n" + self.operator.log_text()[-3000:]
            await asyncio.sleep(0.02)
        return self.told(name)

    async def settle(self, case: Case, name: str, within: float = 20.0) -> list[str]:
        deadline = time.monotonic() + within
        while (problems := self._verdict(case, name)) and time.monotonic() < deadline:
            assert self.operator.alive, "the operator exited:\n" + self.operator.log_text()[-3000:]
            await asyncio.sleep(0.02)
        if not case.valid and self.find("services", name) is not None:
            problems.append("an invalid job got children")
        return problems


@asynccontextmanager
async def fuzz_rig(workdir: Path, permissive: bool) -> AsyncIterator[FuzzRig]:
    kubeconfig = workdir / "kubeconfig"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig) as sb:
        if permissive:
            sb.install_crd(permissive_mpijob_crd())
        operator = OperatorProcess(kubeconfig, workdir / "operator.log", *FAST_FLAGS)
        await operator.start()
        try:
            deadline = time.monotonic() + 30
            while not await operator.is_leader():
                assert operator.alive and time.monotonic() < deadline, operator.log_text()[-3000:]
                await asyncio.sleep(0.1)
            yield FuzzRig(sb, operator)
        finally:
            await operator.kill()


async def known_good_job_converges(rig: FuzzRig) -> None:
    """The operator is alive, healthy, has logged no traceback, and still takes a fresh good job to its launcher."""
    assert rig.operator.alive and await rig.operator.healthy(), rig.operator.log_text()[-3000:]
    good = Case({"slotsPerWorker": 1, "mpiReplicaSpecs": {
        "Launcher": {"replicas": 1, "template": {"spec": {"containers": [container("launcher")]}}},
        "Worker": {"replicas": 2, "template": {"spec": {"containers": [container("worker")]}}}}}, valid=True)
    name = rig.name()
    rig.sb.store.create(MPIJOBS, NAMESPACE, good.document(name))
    assert not await rig.settle(good, name)
    assert "Traceback" not in rig.operator.log_text(), rig.operator.log_text()[-5000:]
