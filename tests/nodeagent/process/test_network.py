"""Pod networking: per-node pod CIDRs, pods of different nodes reaching each other over the runtime's
bridge, loopback, no route off the machine, the node's own network untouched, two runtimes side by side.
No test sends a packet anywhere but to a pod of its own runtime."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess

from mpi_operator.nodeagent.process import ProcessRuntime, ProcessSandbox
from mpi_operator.nodeagent.process.ipam import AddressPool
from mpi_operator.nodeagent.runtime import ContainerSpec, PodIdentity
from tests.nodeagent.process.leftovers import runtime_leftovers
from tests.nodeagent.process.mpijob_pods import wait_for

IMAGE = "mpioperator/base"
SSH_PORT = 2222   # the base image's sshd drop-in


def test_each_node_gets_a_slash_24_of_the_cluster_cidr_and_addresses_are_reused() -> None:
    pool = AddressPool("10.244.0.0/16")
    assert [pool.allocate("a"), pool.allocate("b"), pool.allocate("a")] == ["10.244.0.2", "10.244.1.2", "10.244.0.3"]
    pool.release("10.244.0.2")
    assert pool.allocate("a") == "10.244.0.2"
    assert str(pool.node_subnet("b")) == "10.244.1.0/24"


def _pod(name: str, node: str) -> PodIdentity:
    return PodIdentity(uid=f"{name}-uid", namespace="ns", name=name, hostname=name, subdomain=None, node=node)


async def _sshd(runtime: ProcessRuntime, box: ProcessSandbox) -> None:
    """Root sshd with the node's host keys: something that listens, from the image itself."""
    await runtime.start_container(box, ContainerSpec(name="sshd", image=IMAGE, command=("/usr/sbin/sshd", "-De"),
                                                     run_as_user=0))

    async def listening() -> bool:
        return await runtime.tcp_probe(box, SSH_PORT)
    await wait_for(listening, 20, f"sshd in {box.identity.name}")


async def _bash(runtime: ProcessRuntime, box: ProcessSandbox, script: str) -> tuple[int, str]:
    container = await runtime.start_container(box, ContainerSpec(name="c", image=IMAGE, command=("bash", "-c", script)))
    code = await asyncio.wait_for(container.wait(), 30)
    return code, container.logs().decode()


def _bridge_routes(runtime: ProcessRuntime) -> str:
    return subprocess.run(["ip", "-n", runtime.network.bridge_netns, "-4", "route"], capture_output=True, text=True,
                          check=True).stdout


def _host_network() -> str:
    return "\n".join(subprocess.run(["ip", "-o", *args], capture_output=True, text=True, check=True).stdout
                     for args in (["link"], ["addr"], ["route"], ["-6", "route"]))


async def test_pods_of_different_nodes_reach_each_other_and_nothing_else(runtime: ProcessRuntime) -> None:
    host_before = _host_network()
    server = await runtime.create_sandbox(_pod("server", "node-a"))
    client = await runtime.create_sandbox(_pod("client", "node-b"))
    assert ipaddress.ip_address(server.ip) in ipaddress.ip_network("10.244.0.0/24")
    assert ipaddress.ip_address(client.ip) in ipaddress.ip_network("10.244.1.0/24")
    await _sshd(runtime, server)

    code, out = await _bash(runtime, client, (
        f"exec 3<>/dev/tcp/{server.ip}/{SSH_PORT} && head -c 7 <&3 && echo; "
        "exec 4<>/dev/tcp/127.0.0.1/1 || echo loopback-up-nothing-listens; "
        "ip -o route; ip route get 192.0.2.1 || echo no-route-off-the-machine"))
    assert code == 0, out
    assert "SSH-2.0" in out
    assert "Connection refused" in out and "loopback-up-nothing-listens" in out
    routes = [line.split(" proto")[0] for line in out.splitlines() if " dev " in line]
    assert routes == ["10.244.0.0/16 dev eth0"], out   # the pods' one link; no default route
    assert "Network is unreachable" in out and "no-route-off-the-machine" in out

    assert _bridge_routes(runtime) == ""   # the bridge has no address and no way out either
    assert _host_network() == host_before   # the node's own network namespace was never touched


async def test_two_runtimes_on_one_machine_do_not_collide(runtime: ProcessRuntime) -> None:
    other = ProcessRuntime()
    try:
        assert other.prefix != runtime.prefix
        ours = await runtime.create_sandbox(_pod("same", "node-a"))
        theirs = await other.create_sandbox(_pod("same", "node-a"))
        assert ours.ip == theirs.ip   # the same address, on two separate bridges
        await _sshd(runtime, ours)
        await _sshd(other, theirs)
    finally:
        await other.close()
    assert runtime_leftovers(other, set()) == []
    assert await runtime.tcp_probe(ours, SSH_PORT)   # closing one runtime leaves the other's pods alone


async def test_a_host_network_pod_shares_the_nodes_network_without_changing_it(runtime: ProcessRuntime) -> None:
    host_before = _host_network()
    box = await runtime.create_sandbox(PodIdentity(uid="hn-uid", namespace="ns", name="hn", hostname="hn",
                                                   subdomain=None, node="node-a", host_network=True))
    assert box.link is None
    code, out = await _bash(runtime, box, "ip -o -4 addr show scope global; hostname")
    assert code == 0, out
    assert f"inet {box.ip}/" in out or box.ip == "127.0.0.1"
    assert out.split()[-1] == "hn"   # its own UTS namespace still
    assert _host_network() == host_before
