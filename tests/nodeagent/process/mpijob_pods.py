"""What the operator would create for an MPIJob (its own pure builders), turned into process-runtime calls
as a kubelet would: pod identities, Secret/ConfigMap volumes with their items and modes, mounts, the
container's env and user, and cluster-DNS hosts entries. No API server, no agent.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.parsing import parse_mpijob
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import spec as job_spec
from mpi_operator.controller.configmap import desired_configmap
from mpi_operator.controller.launcher import desired_launcher_job
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.ssh import desired_secret, generate_ssh_key_pair
from mpi_operator.controller.worker import desired_worker_pod
from mpi_operator.nodeagent.process import ProcessRuntime, ProcessSandbox
from mpi_operator.nodeagent.process.container import ProcessContainer
from mpi_operator.nodeagent.runtime import (
    ContainerSpec,
    HostEntry,
    Mount,
    PodIdentity,
    Volume,
    VolumeFile,
)

JSON = dict[str, Any]
CLUSTER_DOMAIN = "cluster.local"
DEFAULT_FILE_MODE = 0o644


def load_job(text: str, namespace: str = "default") -> MPIJob:
    document = yaml.safe_load(text)
    job, errors = parse_mpijob(document)
    assert job is not None and not errors, errors
    metadata = {**job.metadata, "namespace": namespace, "uid": f"uid-{job.metadata['name']}"}
    return apply_defaults(job.model_copy(update={"metadata": metadata}))


@dataclass
class RenderedJob:
    """The operator's objects for one MPIJob: pods (workers, then the launcher) and what they mount."""

    job: MPIJob
    pods: list[JSON]
    objects: dict[tuple[str, str], JSON]   # (kind, name) -> Secret / ConfigMap

    @property
    def workers(self) -> list[JSON]:
        return self.pods[:-1]

    @property
    def launcher(self) -> JSON:
        return self.pods[-1]


def render(job: MPIJob, options: ControllerOptions | None = None) -> RenderedJob:
    options = options or ControllerOptions()
    workers = [desired_worker_pod(job, i, options) for i in range(job_spec.worker_replicas(job))]
    # Every worker Running, as the operator sees it when it rewrites discover_hosts.sh.
    running = [{**copy.deepcopy(w), "status": {"phase": "Running"}} for w in workers]
    launcher_job = desired_launcher_job(job, options).job
    template = launcher_job["spec"]["template"]
    launcher = {
        "metadata": {**template["metadata"], "name": f"{launcher_job['metadata']['name']}-abcde",
                     "namespace": job.namespace},
        "spec": template["spec"],
    }
    secret = desired_secret(job, generate_ssh_key_pair())
    configmap = desired_configmap(job, options, running)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in (secret, configmap)}
    return RenderedJob(job=job, pods=[*workers, launcher], objects=objects)


def identity(pod: JSON, node: str) -> PodIdentity:
    meta, pod_spec = pod["metadata"], pod["spec"]
    return PodIdentity(
        uid=f"{meta['name']}-uid", namespace=meta.get("namespace") or "default", name=meta["name"],
        hostname=(pod_spec.get("hostname") or meta["name"])[:63], subdomain=pod_spec.get("subdomain"),
        node=node, host_network=bool(pod_spec.get("hostNetwork")),
    )


def _key_files(source: JSON, data: dict[str, bytes]) -> tuple[VolumeFile, ...]:
    default_mode = source.get("defaultMode", DEFAULT_FILE_MODE)
    items = source.get("items") or [{"key": k, "path": k} for k in data]
    return tuple(VolumeFile(path=i["path"], data=data[i["key"]], mode=i.get("mode", default_mode)) for i in items)


def volumes(pod: JSON, objects: dict[tuple[str, str], JSON]) -> list[Volume]:
    result = []
    for volume in pod["spec"].get("volumes") or []:
        if "secret" in volume:
            secret = objects[("Secret", volume["secret"]["secretName"])]
            data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
            result.append(Volume(name=volume["name"], files=_key_files(volume["secret"], data)))
        elif "configMap" in volume:
            configmap = objects[("ConfigMap", volume["configMap"]["name"])]
            data = {k: v.encode() for k, v in configmap["data"].items()}
            result.append(Volume(name=volume["name"], files=_key_files(volume["configMap"], data)))
        elif "hostPath" in volume:
            result.append(Volume(name=volume["name"], host_path=volume["hostPath"]["path"]))
        else:
            result.append(Volume(name=volume["name"]))
    return result


def container(pod: JSON, index: int = 0) -> ContainerSpec:
    pod_spec = pod["spec"]
    c = pod_spec["containers"][index]
    security = {**(pod_spec.get("securityContext") or {}), **(c.get("securityContext") or {})}
    return ContainerSpec(
        name=c["name"], image=c["image"], command=tuple(c.get("command") or ()), args=tuple(c.get("args") or ()),
        env=tuple((e["name"], e.get("value", "")) for e in c.get("env") or []),
        working_dir=c.get("workingDir"),
        mounts=tuple(Mount(volume=m["name"], mount_path=m["mountPath"], sub_path=m.get("subPath", ""),
                           read_only=bool(m.get("readOnly"))) for m in c.get("volumeMounts") or []),
        run_as_user=security.get("runAsUser"), run_as_group=security.get("runAsGroup"),
    )


def dns_entries(sandboxes: list[ProcessSandbox], domain: str = CLUSTER_DOMAIN) -> list[HostEntry]:
    """What cluster DNS answers for pods behind a headless Service: `<hostname>.<subdomain>.<ns>.svc` with
    and without the cluster domain, and the short forms `<hostname>.<subdomain>` and `<hostname>`."""
    entries = []
    for box in sandboxes:
        pod = box.identity
        if not pod.subdomain:
            continue
        service = f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc"
        entries.append(HostEntry(box.ip, (f"{service}.{domain}", service, f"{pod.hostname}.{pod.subdomain}",
                                          pod.hostname)))
    return entries


async def wait_for(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Poll `condition` until it holds; fail with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    delay = 0.01
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


@dataclass
class RunningJob:
    """Sandboxes and containers of one rendered MPIJob on a runtime."""

    rendered: RenderedJob
    sandboxes: list[ProcessSandbox] = field(default_factory=list)
    containers: list[ProcessContainer] = field(default_factory=list)

    @property
    def launcher(self) -> ProcessContainer:
        return self.containers[-1]

    async def start(self, runtime: ProcessRuntime, box: ProcessSandbox, spec: ContainerSpec) -> None:
        started = await runtime.start_container(box, spec)
        assert isinstance(started, ProcessContainer)
        self.containers.append(started)


async def start_job(runtime: ProcessRuntime, rendered: RenderedJob, ssh_port: int,
                    nodes: tuple[str, ...] = ("node-a", "node-b")) -> RunningJob:
    """Sandboxes for every pod (spread over `nodes`), volumes and hosts written, workers started and
    listening on `ssh_port`, then the launcher started (WaitForWorkersReady order)."""
    running = RunningJob(rendered=rendered)
    for i, pod in enumerate(rendered.pods):
        box = await runtime.create_sandbox(identity(pod, nodes[i % len(nodes)]))
        running.sandboxes.append(box)
        for volume in volumes(pod, rendered.objects):
            await runtime.write_volume(box, volume)
    entries = dns_entries(running.sandboxes)
    for box in running.sandboxes:
        await runtime.write_hosts(box, entries)
    for pod, box in zip(rendered.workers, running.sandboxes, strict=False):
        await running.start(runtime, box, container(pod))
    for box in running.sandboxes[:-1]:
        async def listening(box: ProcessSandbox = box) -> bool:
            return await runtime.tcp_probe(box, ssh_port)
        await wait_for(listening, 20, f"sshd on {box.identity.name}:{ssh_port}")
    await running.start(runtime, running.sandboxes[-1], container(rendered.launcher))
    return running
