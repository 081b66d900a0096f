"""Volumes: the kubelet's atomic writer (root-owned files with their modes, `..data` swapped on update),
emptyDir, hostPath, subPath and readOnly mounts, and the pod's hosts file as running containers see them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mpi_operator.nodeagent.process import ProcessRuntime, ProcessSandbox
from mpi_operator.nodeagent.process.container import ProcessContainer
from mpi_operator.nodeagent.process.volumes import DATA_LINK, mount_source, write_files
from mpi_operator.nodeagent.runtime import ContainerSpec, HostEntry, Mount, PodIdentity, StartError, Volume, VolumeFile
from tests.nodeagent.process.mpijob_pods import wait_for

IMAGE = "mpioperator/base"


def test_the_atomic_writer_swaps_one_data_link_and_drops_what_is_gone(tmp_path: Path) -> None:
    write_files(tmp_path, [VolumeFile("id_rsa", b"key", 0o600), VolumeFile("sub/dir/x", b"x", 0o444)])
    first = os.readlink(tmp_path / DATA_LINK)
    assert os.readlink(tmp_path / "id_rsa") == f"{DATA_LINK}/id_rsa"
    assert (tmp_path / "sub" / "dir" / "x").read_bytes() == b"x"
    assert (tmp_path / "id_rsa").stat().st_mode & 0o7777 == 0o600
    assert (tmp_path / "sub/dir/x").stat().st_mode & 0o7777 == 0o444
    write_files(tmp_path, [VolumeFile("id_rsa", b"new", 0o644)])
    second = os.readlink(tmp_path / DATA_LINK)
    assert second != first and not (tmp_path / first).exists()
    assert (tmp_path / "id_rsa").read_bytes() == b"new" and not os.path.lexists(tmp_path / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DATA_LINK, second, "id_rsa"])


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../b", "..data/x", ""])
def test_the_atomic_writer_refuses_paths_outside_the_volume(tmp_path: Path, path: str) -> None:
    with pytest.raises(StartError):
        write_files(tmp_path, [VolumeFile(path, b"", 0o644)])


def test_a_sub_path_stays_inside_its_volume(tmp_path: Path) -> None:
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "escape").symlink_to(tmp_path)
    with pytest.raises(StartError, match="outside its volume"):
        mount_source(tmp_path / "vol", "escape", create=True)
    with pytest.raises(StartError, match=r"without '\.\.'"):
        mount_source(tmp_path / "vol", "../vol", create=True)
    assert mount_source(tmp_path / "vol", "new/dir", create=True) == (tmp_path / "vol" / "new" / "dir").resolve()
    with pytest.raises(StartError, match="does not exist"):
        mount_source(tmp_path / "vol", "missing", create=False)


async def _sandbox(runtime: ProcessRuntime) -> ProcessSandbox:
    return await runtime.create_sandbox(
        PodIdentity(uid="vol-uid", namespace="ns", name="vol-pod", hostname="vol-pod", subdomain="job", node="n"))


async def _run(runtime: ProcessRuntime, box: ProcessSandbox, script: str, *mounts: Mount, user: int = 1000) -> str:
    container = await runtime.start_container(
        box, ContainerSpec(name="c", image=IMAGE, command=("sh", "-c", script), mounts=mounts, run_as_user=user))
    code = await asyncio.wait_for(container.wait(), 30)
    out = container.logs().decode()
    assert code == 0, out
    return out


async def test_secret_files_are_root_owned_with_their_modes_and_read_only(runtime: ProcessRuntime) -> None:
    box = await _sandbox(runtime)
    await runtime.write_volume(box, Volume("ssh", files=(VolumeFile("id_rsa", b"private", 0o600),
                                                         VolumeFile("authorized_keys", b"public", 0o644))))
    out = await _run(runtime, box, "stat -Lc '%n %U %a' /root/.ssh/id_rsa /root/.ssh/authorized_keys; "
                                   "touch /root/.ssh/x || echo read-only", Mount("ssh", "/root/.ssh"), user=0)
    assert "/root/.ssh/id_rsa root 600" in out and "/root/.ssh/authorized_keys root 644" in out
    assert "Read-only file system" in out and "read-only" in out


async def test_a_running_container_sees_a_volume_update_and_a_hosts_update(runtime: ProcessRuntime) -> None:
    box = await _sandbox(runtime)
    await runtime.write_volume(box, Volume("config", files=(VolumeFile("hostfile", b"old\n", 0o444),)))
    script = ("until grep -q new /etc/mpi/hostfile; do sleep 0.02; done; echo saw-config; "
              "until grep -q peer.job.ns.svc /etc/hosts; do sleep 0.02; done; echo saw-hosts; "
              "getent hosts peer.job.ns.svc; getent hosts vol-pod.job.ns.svc.cluster.local; cat /etc/resolv.conf")
    container = await runtime.start_container(box, ContainerSpec(
        name="c", image=IMAGE, command=("sh", "-c", script), mounts=(Mount("config", "/etc/mpi"),)))
    await runtime.write_volume(box, Volume("config", files=(VolumeFile("hostfile", b"new\n", 0o444),)))
    await runtime.write_hosts(box, [HostEntry("10.244.9.9", ("peer.job.ns.svc", "peer"))])
    assert await asyncio.wait_for(container.wait(), 30) == 0
    out = container.logs().decode()
    assert "saw-config" in out and "saw-hosts" in out
    assert "10.244.9.9      peer.job.ns.svc" in out
    assert f"{box.ip}" in out.split("saw-hosts")[1]
    assert "nameserver 127.0.0.1" in out and "search ns.svc.cluster.local svc.cluster.local cluster.local" in out


async def test_sub_path_read_only_empty_dir_and_host_path(runtime: ProcessRuntime, tmp_path: Path) -> None:
    box = await _sandbox(runtime)
    _node_file(tmp_path / "data.txt", "from the node\n")
    await runtime.write_volume(box, Volume("config", files=(VolumeFile("hostfile", b"h slots=1\n", 0o444),)))
    await runtime.write_volume(box, Volume("scratch"))
    await runtime.write_volume(box, Volume("node", host_path=str(tmp_path)))
    writer = await runtime.start_container(box, ContainerSpec(
        name="writer", image=IMAGE, command=("sh", "-c", "echo shared > /scratch/sub/file"),
        mounts=(Mount("scratch", "/scratch/sub", sub_path="part"),)))
    assert await writer.wait() == 0, writer.logs()
    out = await _run(runtime, box, (
        "cat /etc/hostfile; cat /scratch/part/file; cat /node/data.txt; "
        "echo x > /node/data.txt || echo node-read-only"),
        Mount("config", "/etc/hostfile", sub_path="hostfile"),
        Mount("scratch", "/scratch"),
        Mount("node", "/node", read_only=True),
    )
    assert out.splitlines()[:3] == ["h slots=1", "shared", "from the node"]
    assert "node-read-only" in out and _read(tmp_path / "data.txt") == "from the node\n"
    with pytest.raises(StartError, match="does not exist on this node"):
        await runtime.write_volume(box, Volume("gone", host_path=str(tmp_path / "missing")))
        await runtime.start_container(box, ContainerSpec(name="c", image=IMAGE, command=("true",),
                                                         mounts=(Mount("gone", "/gone"),)))


async def test_write_hosts_replaces_the_file_not_its_contents(runtime: ProcessRuntime) -> None:
    """The container's /etc/hosts is a link into the pod's directory: a rename there is seen whole."""
    box = await _sandbox(runtime)
    container = await runtime.start_container(box, ContainerSpec(
        name="c", image=IMAGE, command=("sh", "-c", "readlink /etc/hosts /etc/resolv.conf /etc/hostname; sleep 600")))
    assert isinstance(container, ProcessContainer)

    async def linked() -> bool:
        return container.logs().count(b".pod/") == 3
    await wait_for(linked, 10, "the container to print its links")
    assert container.logs().decode().split() == [".pod/hosts", ".pod/resolv.conf", ".pod/hostname"]
    await container.stop(0)


def _node_file(path: Path, text: str) -> None:
    path.write_text(text)
    path.parent.chmod(0o755)   # uid 1000 reads the node's directory


def _read(path: Path) -> str:
    return path.read_text()
