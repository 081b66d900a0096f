"""The client against the sandbox: CRUD on plain dicts, typed errors from real Status bodies, and retries of
injected 429 (honouring Retry-After) and 500 faults."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import AlreadyExists, Conflict, Invalid, NotFound, UnsupportedMediaType
from mpi_operator.kube.resource import CONFIGMAPS, ResourceType
from mpi_operator.sandbox import Sandbox
from tests.kube.conftest import eventually, unique

MPIJOBS = ResourceType("kubeflow.org", "v2beta1", "mpijobs", True, "MPIJob")


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


async def test_crud_round_trip_and_typed_errors(kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    name = unique("cm")
    created = await cms.create(cm(name), "default")
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    with pytest.raises(AlreadyExists):
        await cms.create(cm(name), "default")
    patched = await cms.patch(name, {"data": {"b": "2"}}, "default")
    assert patched["data"] == {"a": "1", "b": "2"}
    with pytest.raises(Conflict):
        await cms.update(created)  # stale resourceVersion
    with pytest.raises(Invalid) as invalid:
        await cms.create(cm("Not_A_Valid_Name"), "default")
    assert invalid.value.causes and invalid.value.causes[0].field == "metadata.name"
    await cms.delete(name, "default")
    with pytest.raises(NotFound):
        await cms.get(name, "default")


async def test_custom_resources_take_merge_patches_and_refuse_strategic_ones(kube: Client) -> None:
    jobs = kube.resource(MPIJOBS)
    with pytest.raises(NotFound):
        await jobs.patch("absent", {"spec": {}}, "default")
    with pytest.raises(UnsupportedMediaType):
        await jobs.patch("absent", {"spec": {}}, "default", type="strategic")


async def test_429_is_retried_after_retry_after(sandbox: Sandbox, kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    await cms.create(cm("throttled"), "default")
    sandbox.faults.error_code, sandbox.faults.retry_after, sandbox.faults.error_rate = 429, 1, 1.0
    sandbox.faults.verbs = {"get"}
    start = time.monotonic()
    task = asyncio.create_task(cms.get("throttled", "default"))
    await eventually(lambda: sandbox.requests.count(verb="get", resource="configmaps") >= 1)
    sandbox.faults.error_rate = 0.0
    obj = await asyncio.wait_for(task, 5)
    assert obj["metadata"]["name"] == "throttled"
    assert time.monotonic() - start >= 0.9


async def test_500_on_reads_is_retried_with_backoff(sandbox: Sandbox, kube: Client) -> None:
    cms = kube.resource(CONFIGMAPS)
    sandbox.faults.error_code, sandbox.faults.error_rate, sandbox.faults.verbs = 500, 1.0, {"list"}
    task = asyncio.create_task(cms.list("default"))
    await eventually(lambda: sandbox.requests.count(verb="list", resource="configmaps") >= 2)
    sandbox.faults.error_rate = 0.0
    page = await asyncio.wait_for(task, 5)
    assert page["kind"] == "ConfigMapList"


async def test_the_qps_limit_holds_against_the_server(sandbox: Sandbox) -> None:
    async with await Client.connect(master=sandbox.url, qps=20, burst=2) as limited:
        cms = limited.resource(CONFIGMAPS)
        start = time.monotonic()
        await asyncio.gather(*(cms.list("default") for _ in range(12)))
        assert time.monotonic() - start >= (12 - 2) / 20 * 0.95
