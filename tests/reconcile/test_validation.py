"""An invalid MPIJob: a ValidationFailed condition naming every field error and one Warning per distinct error
list (docs/decisions.md Q2); fixing the spec drops the condition and the job proceeds."""

from __future__ import annotations

from typing import Any

from mpi_operator.controller.sync.outcome import DONE
from tests.reconcile.fake import World, condition, mpijob


def invalid() -> dict[str, Any]:
    job = mpijob()
    job["spec"]["mpiReplicaSpecs"]["Worker"]["restartPolicy"] = "Always"
    return job


async def test_an_invalid_spec_gets_a_condition_and_one_warning() -> None:
    world = World(invalid())
    assert await world.sync() == DONE
    assert world.writes() == [("patch", "mpijobs/status", "pi")]
    failed = condition(world, "ValidationFailed")
    assert failed is not None and (failed["status"], failed["reason"]) == ("True", "ValidationError")
    assert 'spec.mpiReplicaSpecs[Worker].restartPolicy: Unsupported value: "Always"' in failed["message"]
    assert world.events() == [("Warning", "ValidationError")]
    assert world.recorder.recorded[0].message.startswith("Found validation errors: ")

    await world.sync()  # the same errors: nothing to write, nothing to say
    assert world.writes() == [] and world.events() == []


async def test_a_spec_that_does_not_parse_is_invalid_too() -> None:
    job = mpijob()
    job["spec"]["slotsPerWorker"] = "many"
    world = World(job)
    assert await world.sync() == DONE
    assert world.writes() == [("patch", "mpijobs/status", "pi")]
    assert condition(world, "ValidationFailed") is not None
    assert world.events() == [("Warning", "ValidationError")]


async def test_fixing_the_spec_drops_the_condition_and_proceeds() -> None:
    world = World(invalid())
    await world.sync()
    world.edit("mpijobs", "pi", {"spec": {"mpiReplicaSpecs": {"Worker": {"restartPolicy": "Never"}}}})
    await world.sync()
    assert ("create", "jobs", "pi-launcher") in world.writes()
    assert condition(world, "ValidationFailed") is None
    assert condition(world, "Created") is not None
