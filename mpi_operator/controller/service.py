"""The headless Service `<name>` that gives the launcher and every worker a stable DNS name.

Invariant: only `spec.selector` and `spec.publishNotReadyAddresses` are reconciled after creation.
"""

from __future__ import annotations

from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, spec
from mpi_operator.kube.meta import JSON


def desired_service(job: MPIJob) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.object_meta(job, names.service_name(job), names.app_labels(job)),
        "spec": {
            "clusterIP": "None",
            "selector": names.job_labels(job),
            # With runLauncherAsWorker the launcher must resolve before it is Ready (it is in the hostfile).
            "publishNotReadyAddresses": spec.run_launcher_as_worker(job),
        },
    }


def service_spec_patch(existing: JSON, desired: JSON) -> JSON | None:
    """The spec fields to write back when they drifted (nil selector equals empty), else None."""
    have = existing.get("spec") or {}
    want = desired["spec"]
    patch: JSON = {}
    if (have.get("selector") or {}) != want["selector"]:
        patch["selector"] = want["selector"]
    if bool(have.get("publishNotReadyAddresses")) != want["publishNotReadyAddresses"]:
        patch["publishNotReadyAddresses"] = want["publishNotReadyAddresses"]
    return {"spec": patch} if patch else None
