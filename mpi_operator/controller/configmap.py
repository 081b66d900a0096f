"""The ConfigMap `<name>-config`: the MPI hostfile (every worker index) and discover_hosts.sh (the
workers that are Running now).

Invariant: the hostfile depends only on the spec and options; discover_hosts.sh lists Running worker pods
sorted by name as plain strings (upstream Q12: `worker-10` before `worker-2`).
"""

from __future__ import annotations

from collections.abc import Iterable

from mpi_operator.api.constants import MPIImplementation
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names, spec
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.meta import JSON


def host_address(hostname: str, job: MPIJob, namespace: str, options: ControllerOptions) -> str:
    """`<hostname>.<service>.<ns>.svc[.<cluster domain>]` (no suffix unless --cluster-domain is given)."""
    host = f"{hostname}.{names.service_name(job)}.{namespace}.svc"
    return f"{host}.{options.cluster_domain}" if options.cluster_domain else host


def hostfile(job: MPIJob, options: ControllerOptions) -> str:
    slots = spec.slots_per_worker(job)
    hosts = [names.worker_name(job, i) for i in range(spec.worker_replicas(job))]
    if spec.run_launcher_as_worker(job):
        hosts.insert(0, names.launcher_name(job))
    # OpenMPI: `<host> slots=<S>`; Intel and MPICH: `<host>:<S>`.
    openmpi = spec.mpi_implementation(job) == MPIImplementation.OPENMPI
    line = "{host} slots={slots}\n" if openmpi else "{host}:{slots}\n"
    return "".join(line.format(host=host_address(h, job, job.namespace, options), slots=slots) for h in hosts)


def discover_hosts_script(job: MPIJob, options: ControllerOptions, pods: Iterable[JSON]) -> str:
    """`#!/bin/sh` then one `echo <host>` per Running worker pod among `pods` (filtered by worker labels)."""
    lines = ["#!/bin/sh"]
    if spec.run_launcher_as_worker(job):
        lines.append(f"echo {host_address(names.launcher_name(job), job, job.namespace, options)}")
    selector = names.worker_selector(job)
    running = [
        pod for pod in pods
        if names.labels_match(pod, selector) and (pod.get("status") or {}).get("phase") == "Running"
    ]
    for pod in sorted(running, key=lambda p: str(p["metadata"]["name"])):
        meta = pod["metadata"]
        namespace = meta.get("namespace") or job.namespace
        lines.append(f"echo {host_address(meta['name'], job, namespace, options)}")
    return "\n".join(lines) + "\n"


def desired_configmap(job: MPIJob, options: ControllerOptions, pods: Iterable[JSON]) -> JSON:
    """`pods`: the cached pods of the job's namespace (or any superset); only Running workers are used."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": names.object_meta(job, names.configmap_name(job), names.app_labels(job)),
        "data": {
            names.HOSTFILE_KEY: hostfile(job, options),
            names.DISCOVER_HOSTS_KEY: discover_hosts_script(job, options, pods),
        },
    }


def configmap_data_differs(existing: JSON, desired: JSON) -> bool:
    """Only `data` is reconciled; labels and owners are left as found."""
    return bool((existing.get("data") or {}) != desired["data"])
