"""The pod's hosts file, resolv.conf and the image's accounts, as text."""

from __future__ import annotations

import dataclasses

from mpi_operator.nodeagent.process import accounts, podfiles
from mpi_operator.nodeagent.runtime import HostEntry, PodIdentity

POD = PodIdentity(uid="u", namespace="default", name="pi-launcher-x1", hostname="pi-launcher", subdomain="pi",
                  node="n")
NODE_PASSWD = "root:x:0:0:root:/root:/bin/bash\ncloudsdk:x:1000:1000::/home/cloudsdk:/bin/bash\n"
NODE_GROUP = "root:x:0:\ncloudsdk:x:1000:\nstaff:x:50:mpiuser\n"
MPIUSER = accounts.ImageUser(name="mpiuser", uid=1000, gid=1000, home="/home/mpiuser")


def test_hosts_has_localhost_the_pods_own_names_then_cluster_dns() -> None:
    text = podfiles.hosts_file(POD, "10.244.0.3", [HostEntry("10.244.1.2", ("w.pi.default.svc", "w"))],
                               "cluster.local").decode()
    assert text.splitlines()[1:] == [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "10.244.0.3\tpi-launcher.pi.default.svc.cluster.local pi-launcher.pi.default.svc pi-launcher pi-launcher-x1",
        "10.244.1.2\tw.pi.default.svc w",
    ]


def test_resolv_conf_sends_no_query_off_the_pod() -> None:
    text = podfiles.resolv_conf(POD, "cluster.local").decode()
    assert "nameserver 127.0.0.1\n" in text and text.count("nameserver") == 1
    assert "search default.svc.cluster.local svc.cluster.local cluster.local\n" in text


def test_resolv_conf_uses_the_search_domains_the_agent_resolved() -> None:
    worker = dataclasses.replace(POD, dns_searches=("default.svc.cluster.local", "svc.cluster.local",
                                                    "cluster.local", "pi.default.svc.cluster.local"))
    text = podfiles.resolv_conf(worker, "cluster.local").decode()
    assert "search default.svc.cluster.local svc.cluster.local cluster.local pi.default.svc.cluster.local\n" in text


def test_image_users_replace_node_accounts_with_the_same_id() -> None:
    passwd = accounts.with_users_passwd(NODE_PASSWD, [MPIUSER])
    assert passwd == "root:x:0:0:root:/root:/bin/bash\nmpiuser:x:1000:1000::/home/mpiuser:/bin/bash\n"
    group = accounts.with_users_group(NODE_GROUP, [MPIUSER])
    assert group == "root:x:0:\nstaff:x:50:mpiuser\nmpiuser:x:1000:\n"
    shadow = accounts.with_users_shadow("root:*:1:0:99999:7:::\n", [MPIUSER], 20000)
    assert shadow.endswith("mpiuser:!:20000:0:99999:7:::\n")


def test_a_containers_account_is_resolved_as_a_container_runtime_does() -> None:
    passwd = accounts.with_users_passwd(NODE_PASSWD, [MPIUSER])
    group = accounts.with_users_group(NODE_GROUP, [MPIUSER])
    assert accounts.account(passwd, group, 1000, None, ()) == accounts.Account(1000, 1000, "/home/mpiuser", (1000, 50))
    assert accounts.account(passwd, group, 1000, 7, (9,)) == accounts.Account(1000, 7, "/home/mpiuser", (7, 50, 9))
    assert accounts.account(passwd, group, 4242, None, ()) == accounts.Account(4242, 0, "/", (0,))
