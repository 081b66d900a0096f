"""Hypothesis strategies for MPIJobs labelled valid or invalid by construction (the oracle is independent of
the operator's validation code): a random valid job, or a valid job with exactly one mutation that upstream's
rules or the decisions reject — wrong values, wrong types, missing parts — many of which the CRD schema would
also refuse.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

IMAGE = "mpioperator/mpi-pi:openmpi"
RESTART_POLICIES = ["Never", "OnFailure"]
CLEAN_POD_POLICIES = ["None", "Running", "All"]
IMPLEMENTATIONS = ["OpenMPI", "Intel", "MPICH"]
CREATION_POLICIES = ["AtStartup", "WaitForWorkersReady"]


@dataclass(frozen=True)
class Case:
    """A job document without a name (the test names it) and what the operator must make of it."""

    spec: dict[str, Any]
    valid: bool
    mutation: str = ""
    long_name: bool = False

    @property
    def workers(self) -> int:
        worker = (self.spec.get("mpiReplicaSpecs") or {}).get("Worker")
        return int(worker["replicas"]) if worker else 0

    @property
    def suspended(self) -> bool:
        return bool((self.spec.get("runPolicy") or {}).get("suspend"))

    @property
    def launcher_at_start(self) -> bool:
        return self.suspended or self.spec.get("launcherCreationPolicy", "AtStartup") == "AtStartup"

    def document(self, name: str) -> dict[str, Any]:
        if self.long_name:
            name = (name + "-" + "n" * 63)[:60]
        return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
                "spec": copy.deepcopy(self.spec)}


def optional(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


def container(role: str) -> dict[str, Any]:
    return {"name": role, "image": IMAGE, "command": ["sleep", "1"]}


@st.composite
def replica(draw: st.DrawFn, role: str, replicas: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas,
                            "template": {"spec": {"containers": [container(role)]}}}
    spec.update(draw(optional("restartPolicy", st.sampled_from(RESTART_POLICIES))))
    labels = draw(st.dictionaries(st.sampled_from(["team", "tier", "app"]), st.sampled_from(["a", "b-1", "x9"]),
                                  max_size=2))
    if labels:
        spec["template"]["metadata"] = {"labels": labels}
    return spec


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    replicas: dict[str, Any] = {"Launcher": draw(replica("launcher", 1))}
    if draw(st.integers(0, 9)) > 0:  # a launcher-only job is valid too
        replicas["Worker"] = draw(replica("worker", draw(st.integers(1, 3))))
    run_policy: dict[str, Any] = {}
    run_policy.update(draw(optional("cleanPodPolicy", st.sampled_from(CLEAN_POD_POLICIES))))
    run_policy.update(draw(optional("backoffLimit", st.integers(0, 6))))
    run_policy.update(draw(optional("activeDeadlineSeconds", st.integers(1, 10**6))))
    run_policy.update(draw(optional("ttlSecondsAfterFinished", st.integers(0, 10**5))))
    run_policy.update(draw(optional("suspend", st.booleans())))
    spec: dict[str, Any] = {"mpiReplicaSpecs": replicas}
    if run_policy:
        spec["runPolicy"] = run_policy
    spec.update(draw(optional("slotsPerWorker", st.integers(0, 8))))
    spec.update(draw(optional("mpiImplementation", st.sampled_from(IMPLEMENTATIONS))))
    spec.update(draw(optional("launcherCreationPolicy", st.sampled_from(CREATION_POLICIES))))
    spec.update(draw(optional("sshAuthMountPath", st.sampled_from(["/root/.ssh", "/home/mpiuser/.ssh"]))))
    return spec


def _not_in(choices: list[str]) -> st.SearchStrategy[str]:
    return st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12).filter(
        lambda t: t not in choices)


# Values of the wrong JSON type for a field (none of them is an integer/object/array/... as the field wants).
not_int = st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2),
                    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)))
not_object = st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2))


@st.composite
def invalid_cases(draw: st.DrawFn) -> Case:
    spec = draw(valid_specs())
    replicas = spec["mpiReplicaSpecs"]
    replicas.setdefault("Worker", draw(replica("worker", 1)))
    run_policy = spec.setdefault("runPolicy", {})
    mutation = draw(st.sampled_from([
        "launcher_replicas", "worker_replicas", "launcher_restart", "worker_restart", "clean_pod_policy",
        "implementation", "creation_policy", "negative_slots", "negative_run_policy", "no_launcher",
        "no_containers", "long_name", "replicas_type", "slots_type", "specs_type",
        "run_policy_type", "template_type", "containers_type", "managed_by", "min_available",
    ]))
    long_name = False
    if mutation == "launcher_replicas":
        replicas["Launcher"]["replicas"] = draw(st.sampled_from([0, 2, 3, -1]))
    elif mutation == "worker_replicas":
        replicas["Worker"]["replicas"] = draw(st.integers(-5, 0))
    elif mutation == "launcher_restart":
        replicas["Launcher"]["restartPolicy"] = draw(_not_in(RESTART_POLICIES))
    elif mutation == "worker_restart":
        replicas["Worker"]["restartPolicy"] = draw(st.sampled_from(["Always", "ExitCode"]) | _not_in(RESTART_POLICIES))
    elif mutation == "clean_pod_policy":
        run_policy["cleanPodPolicy"] = draw(_not_in(CLEAN_POD_POLICIES))
    elif mutation == "implementation":
        spec["mpiImplementation"] = draw(_not_in(IMPLEMENTATIONS))
    elif mutation == "creation_policy":
        spec["launcherCreationPolicy"] = draw(_not_in(CREATION_POLICIES))
    elif mutation == "negative_slots":
        spec["slotsPerWorker"] = draw(st.integers(-100, -1))
    elif mutation == "negative_run_policy":
        field = draw(st.sampled_from(["backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"]))
        run_policy[field] = draw(st.integers(-10**6, -1))
    elif mutation == "no_launcher":
        del replicas["Launcher"]
    elif mutation == "no_containers":
        role = draw(st.sampled_from(["Launcher", "Worker"]))
        replicas[role]["template"]["spec"]["containers"] = []
    elif mutation == "long_name":
        long_name = True
    elif mutation == "replicas_type":
        replicas[draw(st.sampled_from(["Launcher", "Worker"]))]["replicas"] = draw(not_int)
    elif mutation == "slots_type":
        spec["slotsPerWorker"] = draw(not_int)
    elif mutation == "specs_type":
        spec["mpiReplicaSpecs"] = draw(not_object)
    elif mutation == "run_policy_type":
        spec["runPolicy"] = draw(not_object)
    elif mutation == "template_type":
        replicas[draw(st.sampled_from(["Launcher", "Worker"]))]["template"] = draw(not_object)
    elif mutation == "containers_type":
        replicas["Worker"]["template"]["spec"]["containers"] = draw(st.text(max_size=4) | st.integers())
    elif mutation == "managed_by":
        run_policy["managedBy"] = "example.com/" + draw(_not_in([]))
    elif mutation == "min_available":
        run_policy["schedulingPolicy"] = {"minAvailable": draw(st.integers(10, 1000))}
    if spec.get("runPolicy") == {}:
        del spec["runPolicy"]
    return Case(spec, valid=False, mutation=mutation, long_name=long_name)


def cases() -> st.SearchStrategy[Case]:
    return st.one_of(valid_specs().map(lambda spec: Case(spec, valid=True)), invalid_cases())


json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
                | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@st.composite
def wild_specs(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid spec with one field anywhere (pod templates included) replaced by arbitrary JSON or removed;
    no verdict by construction: the operator must only tell the user something and stay up."""
    spec = draw(valid_specs())
    path = draw(st.sampled_from(_paths(spec)))
    parent: Any = spec
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
        return spec, f"removed {'.'.join(map(str, path))}"
    parent[path[-1]] = draw(json_values)
    return spec, f"replaced {'.'.join(map(str, path))}"
