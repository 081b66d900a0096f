"""What tests of the two-ground tier share: waiting on conditions, reading MPIJobs and their children."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import yaml

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import NotFound
from tests.conftest import examples_dir

JSON = dict[str, Any]
MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/{ns}/mpijobs"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 30.0, what: str = "condition") -> Any:
    """Await `check()` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.1)


async def get(api: Client, path: str) -> JSON | None:
    try:
        obj: JSON = await api.request("GET", path)
        return obj
    except NotFound:
        return None


async def items(api: Client, path: str, label_selector: str | None = None) -> list[JSON]:
    answer = await api.request("GET", path, params={"labelSelector": label_selector} if label_selector else None)
    return list(answer.get("items") or [])


def example(name: str) -> JSON:
    doc: JSON = yaml.safe_load((examples_dir() / name).read_text())
    return doc


def condition(obj: JSON | None, ctype: str) -> JSON | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return None


def is_true(obj: JSON | None, ctype: str) -> bool:
    c = condition(obj, ctype)
    return c is not None and c.get("status") == "True"


async def create_mpijob(api: Client, ns: str, doc: JSON) -> JSON:
    body = dict(doc, metadata=dict(doc.get("metadata") or {}, namespace=ns))
    created: JSON = await api.request("POST", MPIJOBS.format(ns=ns), body=body)
    return created


async def mpijob(api: Client, ns: str, name: str) -> JSON | None:
    return await get(api, f"{MPIJOBS.format(ns=ns)}/{name}")


async def patch_mpijob(api: Client, ns: str, name: str, patch: JSON) -> JSON:
    out: JSON = await api.request("PATCH", f"{MPIJOBS.format(ns=ns)}/{name}", body=patch,
                                  content_type="application/merge-patch+json")
    return out


async def wait_condition(api: Client, ns: str, name: str, ctype: str, within: float = 60.0) -> JSON:
    async def check() -> JSON | None:
        job = await mpijob(api, ns, name)
        return job if is_true(job, ctype) else None
    result: JSON = await eventually(check, within, f"MPIJob {ns}/{name} {ctype}=True")
    return result


def pods_path(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


def jobs_path(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs"


def with_annotations(doc: JSON, role: str, annotations: dict[str, str]) -> JSON:
    """A copy of an MPIJob whose `role` (Launcher/Worker) pod template carries `annotations`."""
    import copy

    out = copy.deepcopy(doc)
    template = out["spec"]["mpiReplicaSpecs"][role]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
    return out
