"""`mpi-operator render`: the objects the operator would create for each MPIJob in YAML files, offline.

Built from the controller's pure builders, so what it prints is what the reconciler creates (in its
creation order). Invariant: no key material is ever generated or printed: the SSH Secret's data values
are a redaction placeholder; invalid MPIJobs print their field errors and make the exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import yaml

from mpi_operator.api.constants import KIND
from mpi_operator.api.documents import Document, for_each_valid_mpijob
from mpi_operator.api.types import MPIJob
from mpi_operator.cliflags import OneLineParser, namespace_name
from mpi_operator.controller import spec
from mpi_operator.controller.configmap import desired_configmap
from mpi_operator.controller.launcher import desired_launcher_job
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.podgroup import desired_podgroup
from mpi_operator.controller.service import desired_service
from mpi_operator.controller.ssh import SSHKeyPair, desired_secret
from mpi_operator.controller.worker import desired_worker_pod
from mpi_operator.kube.meta import JSON

REDACTED = "<redacted: generated at creation>"
# The API server assigns the real uid; owner references of a job read from a file point at this.
PLACEHOLDER_UID = "<uid: assigned at creation>"
DEFAULT_NAMESPACE = "default"
_NO_KEYS = SSHKeyPair(private_pem=b"", public_line=b"")


@dataclass(frozen=True)
class RenderedObject:
    """One object the operator would create, and a one-line note on when (shown as a YAML comment)."""

    obj: JSON
    note: str = ""


def render_mpijob(job: MPIJob, options: ControllerOptions) -> list[RenderedObject]:
    """The objects for one defaulted, valid MPIJob with namespace and uid set, in the reconciler's creation
    order: Service, ConfigMap, Secret, then (unless suspended) PodGroup and worker pods, then the launcher."""
    secret = desired_secret(job, _NO_KEYS)
    secret["data"] = {key: REDACTED for key in secret["data"]}
    rendered = [
        RenderedObject(desired_service(job)),
        # No pod runs yet, so discover_hosts.sh lists no host; the operator rewrites it as workers start.
        RenderedObject(desired_configmap(job, options, []), "discover_hosts.sh grows as worker pods start Running"),
        RenderedObject(secret, "a new ECDSA P-521 key pair is generated when the Secret is created"),
    ]
    suspended = spec.is_suspended(job)
    if not suspended:
        # PriorityClass values come from the cluster; offline every class counts as priority 0.
        group = desired_podgroup(job, options, {})
        if group is not None:
            rendered.append(RenderedObject(group))
        rendered += [RenderedObject(desired_worker_pod(job, i, options)) for i in range(spec.worker_replicas(job))]
    note = ""
    if suspended:
        note = "created suspended: no worker pod exists until the MPIJob is resumed"
    elif spec.waits_for_workers_ready(job) and spec.worker_replicas(job) > 0:
        note = "created once every worker pod is Ready (launcherCreationPolicy: WaitForWorkersReady)"
    rendered.append(RenderedObject(desired_launcher_job(job, options).job, note))
    return rendered


def _placed(job: MPIJob, namespace: str) -> MPIJob:
    """A copy of `job` with the namespace and uid the API server would give it, where missing."""
    metadata = dict(job.metadata)
    metadata["namespace"] = metadata.get("namespace") or namespace
    metadata["uid"] = metadata.get("uid") or PLACEHOLDER_UID
    return job.model_copy(update={"metadata": metadata})


class _BlockStringDumper(yaml.SafeDumper):
    """Multi-line strings (hostfile, discover_hosts.sh) as literal blocks, so they read like the files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStringDumper.add_representer(str, _represent_str)


def format_objects(rendered: Sequence[RenderedObject], source: str) -> str:
    """Multi-document YAML, each object preceded by a comment naming it and its MPIJob."""
    chunks = []
    for item in rendered:
        meta = item.obj["metadata"]
        header = f"# {source}: {item.obj['kind']} {meta['name']}"
        if item.note:
            header += f" ({item.note})"
        body = yaml.dump(item.obj, Dumper=_BlockStringDumper, sort_keys=False, default_flow_style=False)
        chunks.append(f"---\n{header}\n{body}")
    return "".join(chunks)


def render_files(paths: Sequence[str], options: ControllerOptions, namespace: str, out: TextIO, err: TextIO,
                 stdin: TextIO | None = None) -> int:
    """Render every MPIJob in `paths` to `out`; problems go to `err`.

    Exit status: 0 when every file holds at least one MPIJob and all are valid, 1 otherwise (valid jobs are
    still rendered).
    """

    def render(_name: str, _document: Document, job: MPIJob) -> None:
        placed = _placed(job, namespace)
        source = f"{KIND} {placed.namespace}/{placed.name}"
        out.write(format_objects(render_mpijob(placed, options), source))

    return for_each_valid_mpijob(paths, render, skipped=err, err=err, stdin=stdin)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mpi-operator render",
        description="Print, without a cluster, the objects the operator would create for each MPIJob "
                    "(SSH keys redacted).")
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="YAML file (several documents allowed); '-' reads standard input")
    p.add_argument("--cluster-domain", default="", help="as the operator flag: suffix of hostfile host names")
    p.add_argument("--gang-scheduling", default="",
                   help="as the operator flag: 'volcano', or the scheduler-plugins scheduler name")
    p.add_argument("--namespace", "-n", type=namespace_name, default=DEFAULT_NAMESPACE,
                   help="namespace of MPIJobs that name none (default: default)")
    return p


def main(argv: Sequence[str]) -> int:
    ns = parser().parse_args(argv)
    options = ControllerOptions(cluster_domain=ns.cluster_domain, gang_scheduling=ns.gang_scheduling)
    return render_files(ns.filename, options, ns.namespace, sys.stdout, sys.stderr)
