"""What the node agent asks of a container runtime: pod sandboxes, volumes, hosts files and containers.

The agent (`agent.py`) is the kubelet: it decides what runs when (restart policy, deletion, grace periods)
and reports pod status through the API. A runtime only carries out those decisions. Two implement this
protocol: `simulated.py` (timers chosen by pod annotations, no processes) and `process/` (real processes
in their own network, mount, UTS and PID namespaces). Everything a runtime is given is resolved already:
env values, the user to run as, volume contents; a runtime never talks to the API server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class ImageError(Exception):
    """The image cannot be run on this node (not in the image map): the pod shows ErrImagePull."""

    reason = "ErrImagePull"


class StartError(Exception):
    """The container could not be started (bad command, missing mount source...): RunContainerError."""

    reason = "RunContainerError"


@dataclass(frozen=True)
class PodIdentity:
    """The pod a sandbox is made for."""

    uid: str
    namespace: str
    name: str
    hostname: str            # spec.hostname, else the pod name (truncated to 63 characters, as the kubelet does)
    subdomain: str | None    # spec.subdomain
    node: str                # spec.nodeName
    host_network: bool = False
    restart_policy: str = "Always"
    controller_uid: str = ""  # the controlling owner's uid (the simulated runtime counts failures per owner)
    labels: tuple[tuple[str, str], ...] = ()
    # The simulated runtime reads its outcome from the annotations; the process runtime ignores them.
    annotations: tuple[tuple[str, str], ...] = ()
    # The resolver's search domains, as the kubelet writes them (empty: the runtime's default).
    dns_searches: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeFile:
    path: str        # relative to the volume's directory, may contain '/'
    data: bytes
    mode: int        # file mode bits (items[].mode, else defaultMode, else 0o644)


@dataclass(frozen=True)
class Volume:
    """One pod volume. `files` for Secret, ConfigMap, downward API and projected volumes (written root-owned,
    replaced atomically on update as the kubelet does); an empty directory otherwise (emptyDir)."""

    name: str
    files: tuple[VolumeFile, ...] | None = None   # None: emptyDir
    host_path: str | None = None                 # hostPath volumes: bind the node's own path


@dataclass(frozen=True)
class Mount:
    volume: str          # Volume.name
    mount_path: str      # inside the container
    sub_path: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """One container, resolved: command/args as in the pod spec (empty: the image's entrypoint/cmd), the
    env in order (later entries win), the user and group to run as (None: the image's user)."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    init: bool = False
    restart_count: int = 0


@dataclass(frozen=True)
class HostEntry:
    ip: str
    names: tuple[str, ...]


class Container(Protocol):
    """A started container. `wait` returns the exit code once the process ended (by itself or by `stop`)."""

    @property
    def id(self) -> str: ...

    @property
    def image_id(self) -> str: ...

    async def wait(self) -> int: ...

    async def wait_ready(self) -> None:
        """Returns when the container is ready (the simulated runtime can delay or never return)."""
        ...

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns once the process (and every process it
        started in the container) is gone."""
        ...

    def logs(self) -> bytes:
        """Everything the container wrote to stdout and stderr so far."""
        ...


class Sandbox(Protocol):
    """A pod's shared context: its network namespace and IP, its volumes' directories, its hosts file. The
    runtime chooses the IP (as a CNI plugin's IPAM does) from the pod CIDR of the pod's node."""

    @property
    def identity(self) -> PodIdentity: ...

    @property
    def ip(self) -> str: ...


SandboxT = TypeVar("SandboxT", bound=Sandbox)


class Runtime(Protocol[SandboxT]):
    """A runtime with its own sandbox type; the agent holds a `Runtime[Any]`."""

    name: str

    async def create_sandbox(self, pod: PodIdentity) -> SandboxT: ...

    async def write_volume(self, sandbox: SandboxT, volume: Volume) -> None:
        """Create or update a volume's contents; containers that mount it see the new contents."""
        ...

    async def write_hosts(self, sandbox: SandboxT, entries: Sequence[HostEntry]) -> None:
        """Replace the hosts entries every container of the pod resolves (cluster DNS for the pod)."""
        ...

    async def start_container(self, sandbox: SandboxT, spec: ContainerSpec) -> Container:
        """Start one container; raises ImageError or StartError."""
        ...

    async def remove_sandbox(self, sandbox: SandboxT) -> None:
        """Stop anything left, remove the network namespace, mounts and files. Idempotent."""
        ...

    async def close(self) -> None: ...
