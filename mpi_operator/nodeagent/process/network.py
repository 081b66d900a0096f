"""Pod networking: one network namespace per pod, a veth from it into one bridge that lives in a network
namespace of the runtime's own (`<prefix>-net`), addresses from the AddressPool.

Invariant: nothing here configures the host's root network namespace (every `ip` call names a namespace
with `-n`), no namespace has a route beyond the pods' own link, so no packet can leave the machine; names
carry the runtime's prefix, so two runtimes on one host never collide.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from mpi_operator.nodeagent.process.ipam import AddressPool
from mpi_operator.nodeagent.process.tools import run_tool

NETNS_DIR = Path("/run/netns")   # where `ip netns add` pins namespaces
BRIDGE = "br0"
POD_INTERFACE = "eth0"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class PodLink:
    netns: str       # the pod's namespace name under /run/netns
    veth: str        # the bridge-side end, in the runtime's namespace
    ip: str

    @property
    def netns_path(self) -> str:
        return str(NETNS_DIR / self.netns)


class PodNetwork:
    """The runtime's bridge and its pods' links. `start` before `add_pod`; `close` removes everything."""

    def __init__(self, prefix: str, cluster_cidr: str) -> None:
        self.prefix = prefix
        self.bridge_netns = f"{prefix}-net"
        self.pool = AddressPool(cluster_cidr)
        self._numbers = itertools.count(1)
        self._started = False
        self._starting = asyncio.Lock()  # the agent creates many pods' sandboxes at once

    async def start(self) -> None:
        async with self._starting:
            if self._started:
                return
            await run_tool("ip", "netns", "add", self.bridge_netns)
            self._started = True
            await run_tool(
                "ip", "-n", self.bridge_netns, "-b", "-",
                stdin=f"link set lo up\nlink add {BRIDGE} type bridge\nlink set {BRIDGE} up\n".encode(),
            )

    async def add_pod(self, node: str) -> PodLink:
        await self.start()
        number = next(self._numbers)
        link = PodLink(netns=f"{self.prefix}-{number}", veth=f"v{number}", ip=self.pool.allocate(node))
        try:
            await run_tool("ip", "netns", "add", link.netns)
            await run_tool(
                "ip", "-n", self.bridge_netns, "-b", "-",
                stdin=(
                    f"link add {link.veth} type veth peer name {POD_INTERFACE} netns {link.netns}\n"
                    f"link set {link.veth} master {BRIDGE} up\n"
                ).encode(),
            )
            await run_tool(
                "ip", "-n", link.netns, "-b", "-",
                stdin=(
                    f"addr add {link.ip}/{self.pool.prefixlen} dev {POD_INTERFACE}\n"
                    f"link set {POD_INTERFACE} up\nlink set lo up\n"
                ).encode(),
            )
        except BaseException:
            await self.remove_pod(link)
            raise
        return link

    async def remove_pod(self, link: PodLink) -> None:
        """Idempotent. Deleting the bridge end removes the pair at once (a namespace's own devices go only
        when the kernel gets round to freeing it)."""
        await run_tool("ip", "-n", self.bridge_netns, "link", "del", link.veth, check=False)
        if (NETNS_DIR / link.netns).exists():
            await run_tool("ip", "netns", "del", link.netns, check=False)
        self.pool.release(link.ip)

    async def close(self) -> None:
        if (NETNS_DIR / self.bridge_netns).exists():
            await run_tool("ip", "netns", "del", self.bridge_netns, check=False)
        self._started = False


def _socket_in(netns_path: str) -> socket.socket:
    """A TCP socket of the namespace at `netns_path`: setns affects only the calling thread, which goes
    back to its own namespace before returning (a socket keeps the namespace it was made in)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns_path}")
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:   # a thread left in a pod's namespace would be a bug
                os._exit(70)
    finally:
        os.close(own)
        os.close(target)


async def tcp_connects(netns_path: str, ip: str, port: int, within: float = 1.0) -> bool:
    """A kubelet tcpSocket probe from inside the pod's network: does `ip:port` accept a connection?
    (The node's own namespace has no route to pods, by design.)"""
    sock = await asyncio.to_thread(_socket_in, netns_path)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (ip, port)), within)
        return True
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()
