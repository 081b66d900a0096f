"""Nothing is left behind: remove_sandbox takes a pod's processes, namespace, veth, mounts and files away,
even with containers still running; close takes the rest (the runtime fixture checks that after every test)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from mpi_operator.nodeagent.process import ProcessRuntime
from mpi_operator.nodeagent.process.container import ProcessContainer
from mpi_operator.nodeagent.runtime import ContainerSpec, PodIdentity, Volume, VolumeFile
from tests.conftest import REPO
from tests.nodeagent.process.leftovers import NETNS_DIR, bridge_links, processes_in, runtime_leftovers
from tests.nodeagent.process.mpijob_pods import wait_for

IMAGE = "mpioperator/base"


def _pod(name: str) -> PodIdentity:
    return PodIdentity(uid=f"{name}-uid", namespace="ns", name=name, hostname=name, subdomain="s", node="node-a")


def _exists(path: str) -> bool:
    return Path(path).exists()


def _mounts_mentioning(text: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if text in line]


async def test_remove_sandbox_leaves_nothing_of_the_pod(runtime: ProcessRuntime) -> None:
    keep = await runtime.create_sandbox(_pod("keep"))
    box = await runtime.create_sandbox(_pod("gone"))
    await runtime.write_volume(box, Volume("secret", files=(VolumeFile("key", b"k", 0o600),)))
    await runtime.write_volume(box, Volume("scratch"))
    container = await runtime.start_container(box, ContainerSpec(
        name="c", image=IMAGE, command=("sh", "-c", "sleep 600 & sleep 600 & echo up; wait")))
    assert isinstance(container, ProcessContainer) and box.link is not None

    async def started() -> bool:
        return len(processes_in({container.pid_namespace})) == 3
    await wait_for(started, 10, "sh and two sleeps")
    assert sorted(bridge_links(runtime)) == sorted(["lo", "br0", box.link.veth, keep.link.veth if keep.link else ""])

    await runtime.remove_sandbox(box)
    assert processes_in({container.pid_namespace}) == []
    assert await container.wait() == 137   # no grace left at removal: SIGKILL
    assert not (NETNS_DIR / box.link.netns).exists()
    assert box.link.veth not in bridge_links(runtime)
    assert not box.directory.exists() and _mounts_mentioning(box.link.netns) == []
    await runtime.remove_sandbox(box)   # idempotent
    assert await runtime.tcp_probe(keep, 1) is False and keep.directory.exists()   # the other pod is untouched


async def test_close_with_running_containers_leaves_nothing(runtime: ProcessRuntime) -> None:
    second = ProcessRuntime()
    namespaces = set()
    try:
        for name in ("a", "b"):
            box = await second.create_sandbox(_pod(name))
            container = await second.start_container(box, ContainerSpec(
                name="c", image=IMAGE, command=("/usr/sbin/sshd", "-De"), run_as_user=0))
            assert isinstance(container, ProcessContainer)
            namespaces.add(container.pid_namespace)
    finally:
        await second.close()
    assert runtime_leftovers(second, namespaces) == []
    assert bridge_links(second) == []
    await second.close()   # idempotent


ORPHAN = """
import asyncio, json
from mpi_operator.nodeagent.process import ProcessRuntime
from mpi_operator.nodeagent.runtime import ContainerSpec, PodIdentity

async def main() -> None:
    runtime = ProcessRuntime()
    box = await runtime.create_sandbox(PodIdentity(uid="orphan-uid", namespace="ns", name="orphan",
                                                   hostname="orphan", subdomain="s", node="node-a"))
    container = await runtime.start_container(box, ContainerSpec(name="c", image="mpioperator/base",
                                                                 command=("sleep", "600")))
    print(json.dumps({"state_dir": str(runtime.state_dir), "netns": box.link.netns,
                      "pid_namespace": container.pid_namespace}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_what_a_sigkilled_agent_left_is_removed_by_the_next_runtime(runtime: ProcessRuntime) -> None:
    """An agent killed without closing its runtime: its containers die with it (pdeathsig), its network namespace
    and state directory stay until the next runtime on the node claims its own state and sweeps them."""
    agent = await asyncio.create_subprocess_exec(sys.executable, "-c", ORPHAN, cwd=REPO,
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        left = json.loads(await asyncio.wait_for(agent.stdout.readline(), 60))
    finally:
        agent.kill()
        await agent.wait()

    async def containers_gone() -> bool:
        return processes_in({left["pid_namespace"]}) == []
    await wait_for(containers_gone, 10, "the orphan's container to die with its agent")
    assert (NETNS_DIR / left["netns"]).exists() and _exists(left["state_dir"])   # what close() would remove

    await runtime.create_sandbox(_pod("next"))
    assert not (NETNS_DIR / left["netns"]).exists()
    assert not _exists(left["state_dir"])
    assert _mounts_mentioning(left["netns"]) == []
    assert runtime.state_dir.is_dir()   # its own state is kept


async def test_a_live_runtimes_state_is_never_swept(runtime: ProcessRuntime) -> None:
    other = ProcessRuntime()
    try:
        box = await other.create_sandbox(_pod("alive"))
        await runtime.create_sandbox(_pod("sweeper"))
        assert other.state_dir.is_dir() and box.link is not None and (NETNS_DIR / box.link.netns).exists()
    finally:
        await other.close()
