"""The launcher Job `<name>-launcher`: its desired form, the template hash that detects Launcher template
edits (docs/decisions.md Q13), and the scheduling-directive sync applied when a suspended launcher is resumed.

Invariant: pure; the restart-policy Warning is returned as data (LauncherBuild.restart_policy_overridden)
for the caller to emit once per Job creation (docs/decisions.md Q41).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mpi_operator.api.constants import REPLICA_INDEX_LABEL, CleanPodPolicy, MPIImplementation
from mpi_operator.api.types import MPIJob
from mpi_operator.controller import conditions, names, pod_template, spec
from mpi_operator.controller.finalizer import LAUNCHER_FINALIZER
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.worker import all_ready
from mpi_operator.kube.meta import JSON

CONFIG_ITEM_MODES = ((names.HOSTFILE_KEY, 0o444), (names.DISCOVER_HOSTS_KEY, 0o555))
SSH_CONNECT_ARGS = "-o ConnectionAttempts=10"


@dataclass(frozen=True)
class LauncherBuild:
    """The desired launcher Job and whether the template's own restartPolicy was overridden."""

    job: JSON
    restart_policy_overridden: bool


def implementation_env(job: MPIJob) -> list[tuple[str, str]]:
    slots = str(spec.slots_per_worker(job))
    implementation = spec.mpi_implementation(job)
    if implementation == MPIImplementation.INTEL:
        return [
            ("I_MPI_HYDRA_HOST_FILE", names.HOSTFILE_PATH),
            ("I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS", SSH_CONNECT_ARGS),
            ("I_MPI_PERHOST", slots),
        ]
    if implementation == MPIImplementation.MPICH:
        # Upstream's HYDRA_LAUNCH_EXTRA_ARGS is kept for scripts that read it; Hydra itself (MPICH 4 and 5)
        # reads HYDRA_LAUNCHER_EXTRA_ARGS.
        return [
            ("HYDRA_HOST_FILE", names.HOSTFILE_PATH),
            ("HYDRA_LAUNCH_EXTRA_ARGS", SSH_CONNECT_ARGS),
            ("HYDRA_LAUNCHER_EXTRA_ARGS", SSH_CONNECT_ARGS),
        ]
    # Open MPI 4 (ORTE) reads the OMPI_MCA_orte_* names; Open MPI 5 replaced ORTE with PRRTE, which ignores
    # them and, without its own names, runs every rank on the launcher (upstream #842). Both sets are given.
    return [
        ("OMPI_MCA_orte_keep_fqdn_hostnames", "true"),
        ("OMPI_MCA_orte_default_hostfile", names.HOSTFILE_PATH),
        ("OMPI_MCA_plm_rsh_args", SSH_CONNECT_ARGS),
        ("OMPI_MCA_orte_set_default_slots", slots),
        ("PRTE_MCA_prte_default_hostfile", names.HOSTFILE_PATH),
        ("PRTE_MCA_plm_ssh_args", SSH_CONNECT_ARGS),
        ("PRTE_MCA_prte_set_default_slots", slots),
    ]


def config_volume(job: MPIJob) -> JSON:
    return {
        "name": names.CONFIG_VOLUME,
        "configMap": {
            "name": names.configmap_name(job),
            "items": [{"key": key, "path": key, "mode": mode} for key, mode in CONFIG_ITEM_MODES],
        },
    }


def desired_launcher_template(job: MPIJob, options: ControllerOptions) -> tuple[JSON, bool]:
    """The launcher pod template (§3.6 steps 1-10) and whether the user template set a restartPolicy."""
    launcher = spec.launcher_spec(job)
    meta, pod_spec = pod_template.copy_template(spec.template_of(launcher))
    meta["labels"].update(names.role_labels(job, names.ROLE_LAUNCHER))
    pod_template.decorate_for_gang(meta, pod_spec, job, options)
    if spec.run_launcher_as_worker(job):
        meta["labels"][REPLICA_INDEX_LABEL] = "0"
    pod_template.set_host(pod_spec, job, names.launcher_name(job))

    container = pod_template.first_container(pod_spec)
    env = [(names.ROLE_ENV, names.ROLE_LAUNCHER), *implementation_env(job)]
    if not spec.run_launcher_as_worker(job):
        # Keep the NVIDIA runtime from exposing GPUs to a launcher that does no work.
        env += [("NVIDIA_VISIBLE_DEVICES", ""), ("NVIDIA_DRIVER_CAPABILITIES", "")]
    pod_template.append_env(container, env)
    pod_template.add_ssh_auth(pod_spec, job)

    overridden = bool(pod_spec.get("restartPolicy"))
    if launcher is not None:
        pod_spec["restartPolicy"] = spec.pod_restart_policy(launcher)
    pod_template.add_volume(pod_spec, container, config_volume(job), names.CONFIG_MOUNT_PATH)

    meta["ownerReferences"] = [names.owner_reference(job)]
    return {"metadata": meta, "spec": pod_spec}, overridden


def desired_launcher_job(job: MPIJob, options: ControllerOptions) -> LauncherBuild:
    """The launcher Job to create (§3.6), carrying our finalizer (Q31) and template hash (Q13)."""
    template, overridden = desired_launcher_template(job, options)
    policy = spec.run_policy(job)
    job_spec: JSON = {}
    if policy.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = policy.ttl_seconds_after_finished
    if policy.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = policy.active_deadline_seconds
    if policy.backoff_limit is not None:
        job_spec["backoffLimit"] = policy.backoff_limit
    # Replacement pods only once the old ones are fully gone: two launchers must never overlap.
    job_spec["podReplacementPolicy"] = "Failed"
    if spec.is_suspended(job):
        job_spec["suspend"] = True
    job_spec["template"] = template

    meta = names.object_meta(job, names.launcher_name(job), names.app_labels(job))
    meta["annotations"] = {names.TEMPLATE_HASH_ANNOTATION: pod_template.template_hash(template)}
    meta["finalizers"] = [LAUNCHER_FINALIZER]
    return LauncherBuild(
        job={"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec},
        restart_policy_overridden=overridden,
    )


def sync_scheduling_directives(existing_job: JSON, desired_job: JSON) -> JSON:
    """A copy of `existing_job` whose pod template takes the desired scheduling directives (resume):
    labels and annotations merged (desired wins), nodeSelector, tolerations and schedulingGates replaced
    wholesale (removed when the desired value is absent). `spec.suspend` is left to the caller."""
    result = copy.deepcopy(existing_job)
    template = result.setdefault("spec", {}).setdefault("template", {})
    want = (desired_job.get("spec") or {}).get("template") or {}
    meta, want_meta = template.setdefault("metadata", {}), want.get("metadata") or {}
    for key in ("labels", "annotations"):
        merged = {**(meta.get(key) or {}), **(want_meta.get(key) or {})}
        if merged:
            meta[key] = merged
    pod_spec, want_spec = template.setdefault("spec", {}), want.get("spec") or {}
    for key in ("nodeSelector", "tolerations", "schedulingGates"):
        if want_spec.get(key) is None:
            pod_spec.pop(key, None)
        else:
            pod_spec[key] = copy.deepcopy(want_spec[key])
    return result


def job_condition_true(launcher: JSON, condition_type: str) -> bool:
    conditions = (launcher.get("status") or {}).get("conditions") or []
    return any(c.get("type") == condition_type and c.get("status") == "True" for c in conditions)


def is_launcher_succeeded(launcher: JSON) -> bool:
    return job_condition_true(launcher, "Complete")


def is_launcher_failed(launcher: JSON) -> bool:
    return job_condition_true(launcher, "Failed")


def is_launcher_done(launcher: JSON | None) -> bool:
    """Complete=True or Failed=True; other Job conditions (SuccessCriteriaMet, FailureTarget) do not count."""
    return launcher is not None and (is_launcher_succeeded(launcher) or is_launcher_failed(launcher))


def has_started_pods(launcher: JSON) -> bool:
    """Whether the Job has ever had a pod (active, ready, terminating, succeeded or failed)."""
    status = launcher.get("status") or {}
    return any(status.get(key) for key in ("active", "ready", "terminating", "succeeded", "failed"))


class TemplateChange(StrEnum):
    NONE = "None"
    REPLACE = "Replace"  # delete the Job and create it again from the new template
    DEFERRED = "Deferred"  # Warning Event + condition: the change waits for the next run


def launcher_template_change(existing_job: JSON, desired_job: JSON, mpijob_suspended: bool) -> TemplateChange:
    """docs/decisions.md Q13: compare the recorded template hash; replace only a Job that has started no pod yet or
    whose MPIJob is suspended. A Job without our hash (made by another version) is left alone."""
    have = ((existing_job.get("metadata") or {}).get("annotations") or {}).get(names.TEMPLATE_HASH_ANNOTATION)
    want = desired_job["metadata"]["annotations"][names.TEMPLATE_HASH_ANNOTATION]
    if have is None or have == want or is_launcher_done(existing_job):
        return TemplateChange.NONE
    if mpijob_suspended or not has_started_pods(existing_job):
        return TemplateChange.REPLACE
    return TemplateChange.DEFERRED


def should_suspend_after_failure(job: MPIJob, mpijob_status: JSON, launcher: JSON | None) -> bool:
    """docs/decisions.md Q21: once the MPIJob has failed for good (e.g. evicted workers) while its launcher Job is
    still going, cleanPodPolicy Running or All suspends the launcher Job (its pods go; the Job and its
    status stay for inspection)."""
    if launcher is None or is_launcher_done(launcher) or (launcher.get("spec") or {}).get("suspend"):
        return False
    return (
        conditions.is_failed(mpijob_status)
        and bool(mpijob_status.get("completionTime"))
        and spec.clean_pod_policy(job) in (CleanPodPolicy.RUNNING, CleanPodPolicy.ALL)
    )


def launcher_may_run(job: MPIJob, workers: Sequence[JSON]) -> bool:
    """Whether a launcher may be created unsuspended or be unsuspended now. AtStartup: always.
    WaitForWorkersReady (docs/decisions.md Q8, across suspend/resume too): every worker of the spec is in `workers`
    and Ready. A suspended MPIJob's launcher Job is created suspended regardless of this gate."""
    if not spec.waits_for_workers_ready(job):
        return True
    return len(workers) >= spec.worker_replicas(job) and all_ready(workers)
