"""Pod IP addresses, as a CNI plugin's host-local IPAM hands them out: one /24 of the cluster CIDR per node
name (in the order nodes are first seen), pod addresses .2 to .254 of it (.1 stays free as a gateway would).

Invariant: an address is held by at most one pod until released; every pod interface gets the cluster
CIDR's prefix length, so pods of all nodes are on one link (one bridge) and need no routes.
"""

from __future__ import annotations

import ipaddress

NODE_PREFIX = 24


class AddressPool:
    """Pure bookkeeping; the network module applies the addresses."""

    def __init__(self, cluster_cidr: str) -> None:
        self.network = ipaddress.IPv4Network(cluster_cidr)
        if self.network.prefixlen > NODE_PREFIX - 1:
            raise ValueError(f"cluster CIDR {cluster_cidr} is too small: it needs at least two /{NODE_PREFIX}s")
        self._node_subnets: dict[str, ipaddress.IPv4Network] = {}
        self._subnets = self.network.subnets(new_prefix=NODE_PREFIX)
        self._in_use: set[ipaddress.IPv4Address] = set()

    @property
    def prefixlen(self) -> int:
        return self.network.prefixlen

    def node_subnet(self, node: str) -> ipaddress.IPv4Network:
        """The node's pod CIDR, assigned on first use."""
        subnet = self._node_subnets.get(node)
        if subnet is None:
            try:
                subnet = next(self._subnets)
            except StopIteration:
                raise RuntimeError(f"no /{NODE_PREFIX} left in {self.network} for node {node}") from None
            self._node_subnets[node] = subnet
        return subnet

    def allocate(self, node: str) -> str:
        subnet = self.node_subnet(node)
        for offset in range(2, subnet.num_addresses - 1):
            address = subnet.network_address + offset
            if address not in self._in_use:
                self._in_use.add(address)
                return str(address)
        raise RuntimeError(f"node {node}'s pod CIDR {subnet} is full")

    def release(self, address: str) -> None:
        self._in_use.discard(ipaddress.IPv4Address(address))
