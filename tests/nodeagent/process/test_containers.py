"""Containers of the process runtime as real processes: namespaces, users, the root filesystem, exit
codes, stop with a grace period, logs, and the errors a pod's status shows."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from mpi_operator.nodeagent.process import ProcessRuntime, ProcessSandbox
from mpi_operator.nodeagent.process.container import ProcessContainer
from mpi_operator.nodeagent.runtime import ContainerSpec, ImageError, Mount, PodIdentity, StartError
from tests.nodeagent.process.leftovers import processes_in
from tests.nodeagent.process.mpijob_pods import wait_for

IMAGE = "mpioperator/base:v0.1.0"


def pod(name: str, node: str = "node-a") -> PodIdentity:
    return PodIdentity(uid=f"{name}-uid", namespace="default", name=name, hostname=name, subdomain="svc", node=node)


async def sandbox(runtime: ProcessRuntime, name: str = "p") -> ProcessSandbox:
    return await runtime.create_sandbox(pod(name))


def shell(script: str, **fields: object) -> ContainerSpec:
    return ContainerSpec(name="c", image=IMAGE, command=("sh", "-c", script), **fields)  # type: ignore[arg-type]


async def run(runtime: ProcessRuntime, box: ProcessSandbox, spec: ContainerSpec) -> tuple[int, str]:
    container = await runtime.start_container(box, spec)
    code = await asyncio.wait_for(container.wait(), 30)
    return code, container.logs().decode()


async def test_the_command_runs_as_the_images_user_with_its_home_and_path(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    code, out = await run(runtime, box, shell('id; echo "HOME=$HOME PATH=$PATH HOSTNAME=$HOSTNAME"; pwd'))
    assert code == 0, out
    assert "uid=1000(mpiuser) gid=1000(mpiuser) groups=1000(mpiuser)" in out
    assert "HOME=/home/mpiuser PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=p" in out
    assert out.strip().endswith("/home/mpiuser")


async def test_run_as_user_and_group_and_the_images_accounts(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    code, out = await run(runtime, box, shell("id; getent passwd 1000; echo HOME=$HOME", run_as_user=0))
    assert code == 0, out
    assert "uid=0(root) gid=0(root)" in out and "HOME=/root" in out
    assert "mpiuser:x:1000:1000::/home/mpiuser:/bin/bash" in out
    code, out = await run(runtime, box, shell("id -u; id -g; id -G", run_as_user=1000, run_as_group=2000,
                                              supplemental_groups=(3000,)))
    assert out.split() == ["1000", "2000", "2000", "3000"], out


async def test_own_pid_uts_ipc_mount_and_network_namespaces(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime, "ns-pod")
    container = await runtime.start_container(box, shell(
        "echo pid=$$; hostname; cat /etc/hostname; ls /proc | grep -c '^[0-9]'; echo up; exec sleep 600"))
    assert isinstance(container, ProcessContainer)
    await wait_for(lambda: _logged(container, "up"), 10, "the container to start")
    assert container.logs().decode().split() == ["pid=1", "ns-pod", "ns-pod", "3", "up"]   # sh, ls, grep only
    [main] = processes_in({container.pid_namespace})
    for kind in ("mnt", "uts", "ipc", "pid", "net"):
        assert os.readlink(f"/proc/{main.split()[0]}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
    await container.stop(grace=0)


async def test_the_node_filesystem_cannot_be_changed_and_node_only_dirs_are_hidden(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    marker = Path("/usr/local/mpi-operator-container-wrote-this")
    script = (f"touch {marker} && echo wrote; rm -f /etc/os-release && echo removed; "
              "echo top: $(ls /); echo homes: $(ls /home); echo root: $(ls -A /root)")
    code, out = await run(runtime, box, shell(script, run_as_user=0))
    assert code == 0, out
    assert "wrote" in out and "removed" in out   # root may write: into the container's own upper layer
    assert not _exists(marker) and _exists(Path("/etc/os-release"))
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert "usr" in lines["top"].split() and "work" not in lines["top"].split()   # /work is the node's own
    assert lines["homes"] == "mpiuser" and lines["root"] == ".bashrc .profile"
    code, out = await run(runtime, box, shell(f"touch {marker}"))
    assert code != 0 and "Permission denied" in out


async def test_root_containers_cannot_mount_or_reach_the_node(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    _, out = await run(runtime, box, shell("mount -t tmpfs x /mnt && echo mounted; "
                                              "nsenter --mount=/proc/1/ns/mnt true && echo entered", run_as_user=0))
    assert "mounted" not in out and "entered" not in out, out
    assert "Operation not permitted" in out or "Permission denied" in out


async def test_exit_codes_and_signals_as_a_container_runtime_reports_them(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    assert (await run(runtime, box, shell("exit 3")))[0] == 3
    # PID 1 of a namespace ignores signals it has no handler for, even SIGKILL, when they come from inside.
    assert (await run(runtime, box, shell("kill -KILL $$; echo survived")))[1] == "survived\n"
    sleeper = await runtime.start_container(box, shell("exec sleep 600"))
    await sleeper.stop(grace=0)   # SIGTERM has no handler in sleep: SIGKILL from the node ends it
    assert await sleeper.wait() == 128 + signal.SIGKILL
    assert sleeper.logs() == b""


async def test_stop_sends_sigterm_then_sigkill_after_the_grace(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    handles = await runtime.start_container(box, shell("trap 'echo got TERM; exit 7' TERM; echo up; "
                                                        "while :; do sleep 0.05; done"))
    await wait_for(lambda: _logged(handles, "up"), 10, "the container to start")
    await handles.stop(grace=10)
    assert await handles.wait() == 7 and "got TERM" in handles.logs().decode()

    ignores = await runtime.start_container(box, shell("trap '' TERM; echo up; while :; do sleep 0.05; done"))
    await wait_for(lambda: _logged(ignores, "up"), 10, "the container to start")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ignores.stop(grace=0.5)
    assert await ignores.wait() == 128 + signal.SIGKILL
    assert 0.5 <= loop.time() - started < 5


async def test_stop_ends_every_process_the_container_started(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    script = "sleep 600 & (sleep 700 &) ; setsid sleep 800 & echo up; wait"   # a child, an orphan, a new session
    container = await runtime.start_container(box, shell(script))
    assert isinstance(container, ProcessContainer)
    await wait_for(lambda: _logged(container, "up"), 10, "the container to start")
    async def four_processes() -> bool:
        return len(processes_in({container.pid_namespace})) == 4
    await wait_for(four_processes, 10, "sh and its three sleeps")
    await container.stop(grace=0.2)
    assert processes_in({container.pid_namespace}) == []


async def test_logs_keep_stdout_and_stderr(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    code, out = await run(runtime, box, shell("echo to-stdout; echo to-stderr >&2"))
    assert code == 0 and "to-stdout\n" in out and "to-stderr\n" in out


async def test_docker_command_and_args_semantics(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    mpich = "mpioperator/mpich"   # ENTRYPOINT ["/entrypoint.sh"], no CMD
    code, out = await run(runtime, box, ContainerSpec(name="c", image=mpich, args=("echo", "through-entrypoint")))
    assert code == 0 and out.strip() == "through-entrypoint"
    code, out = await run(runtime, box, ContainerSpec(name="c", image=mpich, command=("echo", "no-entrypoint")))
    assert code == 0 and out.strip() == "no-entrypoint"
    # The base image has no ENTRYPOINT: args replace CMD ["bash"], so "-c" is the command, as in Docker.
    with pytest.raises(StartError, match='"-c": executable file not found'):
        await runtime.start_container(box, ContainerSpec(name="c", image=IMAGE, args=("-c", "echo $0")))
    code, out = await run(runtime, box, ContainerSpec(name="c", image=IMAGE))   # CMD ["bash"], stdin empty
    assert code == 0


async def test_an_unmapped_image_is_an_image_error(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    with pytest.raises(ImageError, match="not available on this node"):
        await runtime.start_container(box, ContainerSpec(name="c", image="busybox:1.36", command=("true",)))


async def test_a_missing_command_or_volume_is_a_start_error(runtime: ProcessRuntime) -> None:
    box = await sandbox(runtime)
    with pytest.raises(StartError, match='"no-such-program": executable file not found in \\$PATH'):
        await runtime.start_container(box, ContainerSpec(name="c", image=IMAGE, command=("no-such-program",)))
    with pytest.raises(StartError, match="never written"):
        await runtime.start_container(box, shell("true", mounts=(Mount("nope", "/x"),)))


async def _logged(container: object, text: str) -> bool:
    assert isinstance(container, ProcessContainer)
    return text in container.logs().decode()


def _exists(path: Path) -> bool:
    return path.exists()
