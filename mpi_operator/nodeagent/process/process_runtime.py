"""ProcessRuntime: the node agent's real runtime (`runtime.Runtime`). Each pod is a network namespace on
the runtime's bridge with a directory of its own (name-service files, volumes, container logs); each
container is real processes in its own mount, UTS, IPC and PID namespaces (container.py), its root the
image's layer over the node's filesystem (layers.py, images.yaml).

Invariant: everything the runtime creates carries its prefix (namespaces) or lies under its state
directory, and `remove_sandbox` / `close` take all of it away again: processes, namespaces, veths, files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpi_operator.nodeagent.process import accounts, podfiles, stale, volumes
from mpi_operator.nodeagent.process.availability import unavailable_reason
from mpi_operator.nodeagent.process.container import LaunchPlan, ProcessContainer
from mpi_operator.nodeagent.process.images import ImageMap
from mpi_operator.nodeagent.process.layers import Image, LayerStore
from mpi_operator.nodeagent.process.network import PodLink, PodNetwork, tcp_connects
from mpi_operator.nodeagent.process.tools import run_tool
from mpi_operator.nodeagent.runtime import (
    Container,
    ContainerSpec,
    HostEntry,
    Mount,
    PodIdentity,
    Sandbox,
    StartError,
    Volume,
)

log = logging.getLogger(__name__)

DEFAULT_STATE_ROOT = Path("/run/mpi-operator")
# Docker's default capability set: what a root container keeps (enough for sshd's privilege separation;
# no CAP_SYS_ADMIN, so no mount or namespace change from inside).
DEFAULT_CAPABILITIES = (
    "chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap", "net_bind_service",
    "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap",
)


@dataclass
class ProcessSandbox:
    identity: PodIdentity
    ip: str
    directory: Path
    link: PodLink | None                      # None: hostNetwork
    volumes: dict[str, Volume] = field(default_factory=dict)
    containers: list[ProcessContainer] = field(default_factory=list)
    removed: bool = False

    @property
    def pod_files(self) -> Path:
        return self.directory / "etc"

    @property
    def boot_id_file(self) -> Path:
        return self.directory / "boot_id"

    def volume_dir(self, name: str) -> Path:
        return self.directory / "volumes" / name


def container_argv(spec: ContainerSpec, image: Image) -> list[str]:
    """Docker's rule: `command` replaces ENTRYPOINT (and then CMD is dropped), `args` replaces CMD."""
    if spec.command:
        return [*spec.command, *spec.args]
    return [*image.config.entrypoint, *(spec.args or image.config.cmd)]


def container_env(spec: ContainerSpec, image: Image, hostname: str, home: str) -> list[tuple[str, str]]:
    """HOSTNAME, then the image's ENV, then the container's env (later wins); HOME from the user's passwd
    entry unless set, as a container runtime does."""
    env: dict[str, str] = {"HOSTNAME": hostname, **image.config.env}
    env.update(spec.env)
    env.setdefault("HOME", home)
    return list(env.items())


class ProcessRuntime:
    """Pods as namespaces, containers as processes. Needs root: check `unavailable_reason()` first."""

    name = "process"

    def __init__(self, *, cluster_cidr: str = "10.244.0.0/16", cluster_domain: str = "cluster.local",
                 state_root: Path = DEFAULT_STATE_ROOT, cache_dir: Path | None = None,
                 image_map: ImageMap | None = None, prefix: str | None = None) -> None:
        self.prefix = prefix or f"mpo{secrets.token_hex(3)}"
        self.cluster_domain = cluster_domain
        self.state_dir = state_root / self.prefix
        self.network = PodNetwork(self.prefix, cluster_cidr)
        self.layers = LayerStore(image_map or ImageMap(), cache_dir)
        self._sandboxes: dict[str, ProcessSandbox] = {}
        self._boot_ids: dict[str, str] = {}   # node -> the boot id its containers see
        self._closed = False
        self._claim = asyncio.Lock()
        self._claimed = False

    @staticmethod
    def unavailable_reason() -> str | None:
        return unavailable_reason()

    def sandboxes(self) -> list[ProcessSandbox]:
        return list(self._sandboxes.values())

    async def create_sandbox(self, pod: PodIdentity) -> ProcessSandbox:
        if self._closed:
            raise RuntimeError("the runtime is closed")
        if pod.uid in self._sandboxes and not self._sandboxes[pod.uid].removed:
            return self._sandboxes[pod.uid]
        directory = self.state_dir / "pods" / pod.uid
        await self._claim_state()
        (self.state_dir / "pods").mkdir(mode=0o700, exist_ok=True)
        directory.mkdir(mode=0o700)
        try:
            link = None if pod.host_network else await self.network.add_pod(pod.node)
            ip = link.ip if link else await _node_address()
            sandbox = ProcessSandbox(identity=pod, ip=ip, directory=directory, link=link)
            podfiles.write_pod_files(sandbox.pod_files, pod, ip, (), self.cluster_domain)
            boot_id = self._boot_ids.setdefault(pod.node, str(uuid.uuid4()))
            podfiles.write_atomically(sandbox.boot_id_file, f"{boot_id}\n".encode(), 0o444)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self._sandboxes[pod.uid] = sandbox
        return sandbox

    async def _claim_state(self) -> None:
        """Before the first pod: this runtime's state directory, with its owner, and what runtimes of agents that
        died without closing theirs left on the node (stale.py) removed."""
        async with self._claim:
            if self._claimed:
                return
            stale.claim(self.state_dir)
            self.state_dir.chmod(0o700)
            removed = await stale.sweep(self.state_dir.parent, self.state_dir)
            if removed:
                log.warning("node agent: removed the network namespaces and state of %d runtime(s) whose agent "
                            "died without stopping them: %s", len(removed), ", ".join(removed))
            self._claimed = True

    async def write_volume(self, sandbox: Sandbox, volume: Volume) -> None:
        box = self._own(sandbox)
        directory = box.volume_dir(volume.name)
        if volume.files is not None:
            await asyncio.to_thread(volumes.write_files, directory, volume.files)
        elif volume.host_path is None:
            volumes.make_empty_dir(directory)
        box.volumes[volume.name] = volume

    async def write_hosts(self, sandbox: Sandbox, entries: Sequence[HostEntry]) -> None:
        box = self._own(sandbox)
        data = podfiles.hosts_file(box.identity, box.ip, entries, self.cluster_domain)
        podfiles.write_atomically(box.pod_files / "hosts", data)

    async def start_container(self, sandbox: Sandbox, spec: ContainerSpec) -> Container:
        box = self._own(sandbox)
        image = await self.layers.image(spec.image)
        argv = container_argv(spec, image)
        if not argv:
            raise StartError(f"no command specified: image {spec.image} has no ENTRYPOINT or CMD")
        uid = spec.run_as_user if spec.run_as_user is not None else image.config.user[0]
        gid = spec.run_as_group
        if gid is None and spec.run_as_user is None:
            gid = image.config.user[1]
        user = accounts.account(_image_text(image, "passwd"), _image_text(image, "group"), uid, gid,
                                spec.supplemental_groups)
        container_id = secrets.token_hex(8)
        plan = LaunchPlan(
            container_id=container_id,
            image_id=image.image_id,
            directory=box.directory / "containers" / f"{spec.name}-{spec.restart_count}-{container_id}",
            netns_path=box.link.netns_path if box.link else None,
            init_spec={
                "layer": str(image.layer),
                "pod_dir": str(box.pod_files),
                "boot_id": str(box.boot_id_file),
                "hostname": box.identity.hostname,
                "mounts": [*_image_mounts(image), *(self._mount(box, m) for m in spec.mounts)],
                "argv": argv,
                "env": container_env(spec, image, box.identity.hostname, user.home),
                "cwd": spec.working_dir or image.config.workdir,
                "uid": user.uid, "gid": user.gid, "groups": list(user.groups),
                "capabilities": list(DEFAULT_CAPABILITIES),
            },
        )
        container = await ProcessContainer.start(plan)
        box.containers.append(container)
        return container

    def _mount(self, box: ProcessSandbox, mount: Mount) -> dict[str, object]:
        volume = box.volumes.get(mount.volume)
        if volume is None:
            raise StartError(f"volume {mount.volume!r} of mount {mount.mount_path} was never written")
        if volume.host_path is not None:
            root = Path(volume.host_path)
            if not root.exists():
                raise StartError(f"hostPath {volume.host_path} does not exist on this node")
        else:
            root = box.volume_dir(volume.name)
        files_volume = volume.files is not None
        source = volumes.mount_source(root, mount.sub_path, create=not files_volume)
        # Secret, ConfigMap and downward-API volumes are always read-only, as the kubelet mounts them.
        return {"source": str(source), "target": mount.mount_path, "read_only": mount.read_only or files_volume}

    def describe(self, sandbox: Sandbox) -> dict[str, object]:
        """What this runtime made for a pod, by name: for `/debug/pods` and leak checks from outside."""
        box = self._own(sandbox, removed_ok=True)
        return {"ip": box.ip, "netns": box.link.netns if box.link is not None else None,
                "directory": str(box.directory), "prefix": self.prefix,
                "pid_namespaces": [c.pid_namespace for c in box.containers]}

    async def tcp_probe(self, sandbox: Sandbox, port: int, within: float = 1.0) -> bool:
        """A tcpSocket probe of the pod's IP, made from inside its network namespace (not in the Runtime
        protocol: only this runtime has pod networks the node cannot reach)."""
        box = self._own(sandbox)
        if box.link is None:
            return await tcp_connects("/proc/self/ns/net", "127.0.0.1", port, within)
        return await tcp_connects(box.link.netns_path, box.ip, port, within)

    async def remove_sandbox(self, sandbox: Sandbox) -> None:
        box = self._own(sandbox, removed_ok=True)
        if box.removed:
            return
        await asyncio.gather(*(c.stop(0) for c in box.containers))
        if box.link is not None:
            await self.network.remove_pod(box.link)
        shutil.rmtree(box.directory, ignore_errors=True)
        box.removed = True
        self._sandboxes.pop(box.identity.uid, None)

    async def close(self) -> None:
        for box in list(self._sandboxes.values()):
            await self.remove_sandbox(box)
        await self.network.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        with contextlib.suppress(OSError):   # shared by every runtime of the node: only when empty
            self.state_dir.parent.rmdir()
        self._closed = True

    def _own(self, sandbox: Sandbox, removed_ok: bool = False) -> ProcessSandbox:
        if not isinstance(sandbox, ProcessSandbox):
            raise TypeError(f"not a sandbox of the process runtime: {sandbox!r}")
        if sandbox.removed and not removed_ok:
            raise StartError(f"the sandbox of pod {sandbox.identity.namespace}/{sandbox.identity.name} is removed")
        return sandbox


def _image_mounts(image: Image) -> list[dict[str, object]]:
    """The image's PyPI build, read-only at its prefix: too big to copy into every container's layer."""
    pypi = image.config.pypi
    if pypi is None:
        return []
    return [{"source": str(pypi.node_dir()), "target": pypi.prefix, "read_only": True}]


def _image_text(image: Image, name: str) -> str:
    """The image's /etc/<name>: its layer's when it has one, else the node's."""
    for candidate in (image.layer / "etc" / name, Path("/etc") / name):
        if candidate.is_file():
            return candidate.read_text()
    return ""


async def _node_address() -> str:
    """The node's first global IPv4 address (a hostNetwork pod's IP), read, never configured."""
    out = await run_tool("ip", "-4", "-o", "addr", "show", "scope", "global", check=False)
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return "127.0.0.1"
