"""The node agent's pure parts: pod phase and status by the kubelet's rules, cluster DNS as hosts entries,
and the pod spec resolved into what a runtime is given (env, users, volumes, search domains)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mpi_operator.nodeagent import hosts, podspec
from mpi_operator.nodeagent.podstatus import ContainerRecord, PodView, phase, pod_status
from mpi_operator.nodeagent.runtime import HostEntry, VolumeFile

JSON = dict[str, Any]


def record(name: str = "c", state: str = "waiting", code: int | None = None, init: bool = False,
           restarts: int = 0) -> ContainerRecord:
    rec = ContainerRecord(name, "img", init=init, restart_count=restarts)
    if state == "running":
        rec.state, rec.started_at = "running", "2026-01-01T00:00:00Z"
    elif state == "terminated":
        rec.end(code or 0, "2026-01-01T00:00:01Z")
    return rec


@pytest.mark.parametrize(("policy", "codes", "expected"), [
    ("Never", [0, 0], "Succeeded"),
    ("Never", [0, 1], "Failed"),
    ("OnFailure", [0, 0], "Succeeded"),
    ("OnFailure", [0, 1], "Running"),      # the failed one restarts
    ("Always", [0, 0], "Running"),
])
def test_phase_of_ended_containers_follows_the_restart_policy(policy: str, codes: list[int], expected: str) -> None:
    containers = [record(f"c{i}", "terminated", code) for i, code in enumerate(codes)]
    assert phase(policy, containers, []) == expected


def test_phase_is_pending_until_the_init_containers_succeeded_and_failed_with_never() -> None:
    assert phase("Never", [record()], [record("i", "running", init=True)]) == "Pending"
    assert phase("Never", [record()], [record("i", "terminated", 1, init=True)]) == "Failed"
    assert phase("Always", [record(state="running")], [record("i", "terminated", 0, init=True)]) == "Running"


def test_status_keeps_conditions_others_set_and_reports_readiness() -> None:
    current = {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]}
    running = record(state="running")
    status = pod_status(current, "Never", [running], [], PodView(sandbox_ready=True, pod_ip="10.244.0.2",
                                                                  host_ip="127.0.0.1", start_time="t"))
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["DisruptionTarget"]["reason"] == "EvictionByEvictionAPI"
    assert by_type["Ready"]["status"] == "False" and by_type["Ready"]["reason"] == "ContainersNotReady"
    assert status["phase"] == "Running" and status["podIP"] == "10.244.0.2"
    running.ready = True
    ready = pod_status(status, "Never", [running], [], PodView(sandbox_ready=True))
    assert {c["type"]: c["status"] for c in ready["conditions"]}["ContainersReady"] == "True"


def test_a_restarted_container_reports_its_last_state() -> None:
    rec = record(state="terminated", code=3)
    rec.wait("CrashLoopBackOff", "back-off")
    out = rec.status()
    assert out["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    assert out["lastState"]["terminated"]["exitCode"] == 3


def pod(name: str, ip: str | None, ready: bool = True, labels: JSON | None = None, **spec: Any) -> JSON:
    status: JSON = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name, "namespace": "ns", "uid": name, "labels": labels or {"job": "pi"}},
            "spec": spec, "status": status}


SERVICE: JSON = {"metadata": {"name": "pi", "namespace": "ns"},
                 "spec": {"clusterIP": "None", "selector": {"job": "pi"}}}


def test_headless_service_publishes_ready_pods_with_a_hostname_and_subdomain() -> None:
    pods = [pod("w0", "10.0.0.2", hostname="w0", subdomain="pi"),
            pod("w1", "10.0.0.3", ready=False, hostname="w1", subdomain="pi"),
            pod("other", "10.0.0.4", labels={"job": "x"}, hostname="o", subdomain="pi"),
            pod("noip", None, hostname="n", subdomain="pi")]
    assert hosts.published(pods, [SERVICE], "cluster.local") == [HostEntry("10.0.0.2", ("w0.pi.ns.svc.cluster.local",))]
    publishing = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    assert [e.ip for e in hosts.published(pods, [publishing], "cluster.local")] == ["10.0.0.2", "10.0.0.3"]


def test_search_aliases_complete_names_as_the_resolver_would() -> None:
    entry = HostEntry("10.0.0.2", ("pi-launcher.pi.ns.svc.cluster.local",))
    worker = podspec.dns_searches(pod("w", "1", dnsConfig={"searches": ["pi.ns.svc.cluster.local"]}), "cluster.local")
    names = hosts.with_search_aliases([entry], worker)[0].names
    assert names == ("pi-launcher.pi.ns.svc.cluster.local", "pi-launcher.pi", "pi-launcher.pi.ns",
                     "pi-launcher.pi.ns.svc", "pi-launcher")


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local")),
    ({"dnsConfig": {"searches": ["a.b", "svc.cluster.local"]}},
     ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "a.b")),
    ({"hostNetwork": True}, ()),
    ({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"},
     ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local")),
    ({"dnsPolicy": "None", "dnsConfig": {"searches": ["x"]}}, ("x",)),
])
def test_dns_searches_follow_the_dns_policy(spec: JSON, expected: tuple[str, ...]) -> None:
    assert podspec.dns_searches(pod("p", "1", **spec), "cluster.local") == expected


CONFIG: JSON = {"metadata": {"name": "cfg"}, "data": {"hostfile": "w0 slots=1\n", "script.sh": "echo\n"}}
SECRET: JSON = {"metadata": {"name": "ssh"}, "data": {"id_rsa": base64.b64encode(b"KEY").decode()}}


def lookup(obj: JSON) -> podspec.Lookup:
    return lambda _ns, name: obj if obj["metadata"]["name"] == name else None


def test_env_resolves_values_references_and_field_paths() -> None:
    p = pod("p", "10.0.0.9", nodeName="node-1")
    container = {"name": "c", "env": [
        {"name": "A", "value": "1"}, {"name": "B", "value": "$(A)-$$(A)"},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "ssh", "key": "id_rsa"}}},
        {"name": "HF", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "hostfile"}}},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}}]}
    env = dict(podspec.resolve_env(p, container, lookup(CONFIG), lookup(SECRET)))
    assert env == {"A": "1", "B": "1-$(A)", "NODE": "node-1", "IP": "10.0.0.9", "KEY": "KEY", "HF": "w0 slots=1\n"}
    with pytest.raises(podspec.SpecError, match='secret "gone" not found'):
        podspec.resolve_env(p, {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]},
                            lookup(CONFIG), lookup(SECRET))


def test_volumes_carry_items_modes_and_default_modes() -> None:
    p = pod("p", "1", volumes=[
        {"name": "mpi", "configMap": {"name": "cfg", "items": [{"key": "hostfile", "path": "hostfile", "mode": 0o444},
                                                                {"key": "script.sh", "path": "s.sh", "mode": 0o555}]}},
        {"name": "keys", "secret": {"secretName": "ssh", "defaultMode": 0o600}},
        {"name": "scratch", "emptyDir": {}}])
    vols = {v.name: v for v in podspec.volumes(p, lookup(CONFIG), lookup(SECRET))}
    assert vols["mpi"].files == (VolumeFile("hostfile", b"w0 slots=1\n", 0o444), VolumeFile("s.sh", b"echo\n", 0o555))
    assert vols["keys"].files == (VolumeFile("id_rsa", b"KEY", 0o600),)
    assert vols["scratch"].files is None


def test_the_container_user_overrides_the_pods() -> None:
    p = pod("p", "1", securityContext={"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000})
    spec = podspec.container_spec(p, {"name": "c", "image": "i", "securityContext": {"runAsUser": 0}},
                                  lookup(CONFIG), lookup(SECRET))
    assert (spec.run_as_user, spec.run_as_group, spec.supplemental_groups) == (0, 1000, (2000,))
