"""Every shared example, defaulted by mpi_operator.api.defaults, renders valid Kubernetes objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import spec
from mpi_operator.controller.configmap import desired_configmap
from mpi_operator.controller.launcher import desired_launcher_job
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.podgroup import desired_podgroup
from mpi_operator.controller.service import desired_service
from mpi_operator.controller.ssh import SSHKeyPair, desired_secret
from mpi_operator.controller.worker import desired_worker_pod
from tests.conftest import examples_dir

EXAMPLES = sorted(examples_dir().glob("*.yaml"))
FAKE_KEYS = SSHKeyPair(private_pem=b"private", public_line=b"public\n")


def render(job: MPIJob, options: ControllerOptions) -> list[dict[str, Any]]:
    objects = [
        desired_service(job),
        desired_configmap(job, options, []),
        desired_secret(job, FAKE_KEYS),
        desired_launcher_job(job, options).job,
        *(desired_worker_pod(job, i, options) for i in range(spec.worker_replicas(job))),
    ]
    group = desired_podgroup(job, options, {})
    return objects + ([group] if group else [])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("gang", ["", "volcano", "scheduler-plugins-scheduler"])
def test_example_renders(path: Path, gang: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        doc.setdefault("metadata", {}).update(namespace="default", uid="u-1")
        job = apply_defaults(MPIJob.model_validate(doc))
        objects = render(job, ControllerOptions(gang_scheduling=gang))
        json.dumps(objects)  # plain JSON all the way down
        for obj in objects:
            assert obj["metadata"]["namespace"] == "default"
            assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        launcher = objects[3]["spec"]["template"]["spec"]
        mount = spec.ssh_auth_mount_path(job)
        assert {"name": "ssh-auth", "mountPath": mount} in launcher["containers"][0]["volumeMounts"]
        assert ("defaultMode" in launcher["volumes"][-2]["secret"]) == (mount == "/root/.ssh")
