"""The pod's name-service files: hosts (cluster DNS, as the agent resolves it), resolv.conf and hostname.

They live in one directory per pod that every container mounts read-only at /etc/.pod, with /etc/hosts,
/etc/resolv.conf and /etc/hostname symlinks into it. Invariant: a file is only ever replaced by rename,
so a reader in a container sees the whole old or the whole new file, never a half-written one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mpi_operator.nodeagent.runtime import HostEntry, PodIdentity

CONTAINER_DIR = "/etc/.pod"      # where containers see this directory
LINKED_FILES = ("hosts", "resolv.conf", "hostname")


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a sibling temporary file, then rename it over `path`."""
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            os.fchmod(file.fileno(), mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def own_names(pod: PodIdentity, cluster_domain: str) -> list[str]:
    """The names the kubelet gives a pod in its own hosts file, plus the `.svc` form the operator's
    hostfile uses and the pod name when the hostname differs."""
    names: list[str] = []
    if pod.subdomain:
        service = f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc"
        names += [f"{service}.{cluster_domain}", service]
    names.append(pod.hostname)
    if pod.name != pod.hostname:
        names.append(pod.name)
    return names


def hosts_file(pod: PodIdentity, ip: str, entries: Sequence[HostEntry], cluster_domain: str) -> bytes:
    lines = [
        "# Kubernetes-managed hosts file (mpi-operator process runtime).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{ip}\t{' '.join(own_names(pod, cluster_domain))}",
    ]
    lines += [f"{entry.ip}\t{' '.join(entry.names)}" for entry in entries if entry.names]
    return ("\n".join(lines) + "\n").encode()


def resolv_conf(pod: PodIdentity, cluster_domain: str) -> bytes:
    """Search domains as a pod's; the only nameserver is the pod's own loopback, where nothing listens, so
    a query fails at once and never leaves the pod. Cluster names are in the hosts file."""
    searches = list(pod.dns_searches) or [f"{pod.namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}",
                                          cluster_domain]
    return (
        "# No cluster DNS server on this node: names are served from /etc/hosts.\n"
        "nameserver 127.0.0.1\n"
        f"search {' '.join(searches)}\n"
        "options ndots:5 attempts:1 timeout:1\n"
    ).encode()


def write_pod_files(directory: Path, pod: PodIdentity, ip: str, entries: Sequence[HostEntry],
                    cluster_domain: str) -> None:
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomically(directory / "hosts", hosts_file(pod, ip, entries, cluster_domain))
    write_atomically(directory / "resolv.conf", resolv_conf(pod, cluster_domain))
    write_atomically(directory / "hostname", f"{pod.hostname}\n".encode())
