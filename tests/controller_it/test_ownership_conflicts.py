"""A child name taken by an object this MPIJob does not control: a Warning `ErrResourceExists` naming the real
kind (docs/decisions.md Q14), and the object is never taken over or changed. (PodGroups: see the gang-scheduling
tests.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.controller_it.cluster import events
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")

POD_SPEC = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
FOREIGN: list[tuple[str, str, str, dict[str, Any]]] = [
    ("services", "Service", "pi", {"spec": {"clusterIP": "None"}}),
    ("configmaps", "ConfigMap", "pi-config", {"data": {"hostfile": "mine\n"}}),
    ("secrets", "Secret", "pi-ssh", {"type": "Opaque", "data": {"token": "c2VjcmV0"}}),
    ("pods", "Pod", "pi-worker-0", {"spec": POD_SPEC}),
    ("jobs.batch", "Job", "pi-launcher", {"spec": {"template": {"spec": POD_SPEC}}}),
]


@pytest.mark.parametrize(("resource", "kind", "name", "body"), FOREIGN, ids=[f[1] for f in FOREIGN])
async def test_foreign_object_gets_err_resource_exists_and_no_takeover(env: Env, resource: str, kind: str,
                                                                       name: str, body: dict[str, Any]) -> None:
    ns = env.namespace()
    foreign = env.create(resource, ns, {"metadata": {"name": name}, **body})
    env.create(MPIJOBS, ns, example("pi.yaml"))

    warning = await env.eventually(lambda: events(env, ns, "ErrResourceExists"), what="ErrResourceExists event")
    assert warning[0]["type"] == "Warning"
    assert warning[0]["message"] == f'Resource "{name}" of Kind "{kind}" already exists and is not managed by MPIJob'
    assert warning[0]["involvedObject"]["kind"] == "MPIJob"
    current = env.get(resource, ns, name)
    assert current is not None and current["metadata"]["uid"] == foreign["metadata"]["uid"]
    assert not current["metadata"].get("ownerReferences")
    assert current["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
