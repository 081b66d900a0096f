"""Pydantic models of every MPIJob kubeflow.org/v2beta1 type, with upstream's camelCase JSON names.

Invariant: parse then dump (`to_dict`) loses nothing. Unknown fields are kept (extra="allow"), pod
templates and metadata stay plain JSON dicts, and enumerated fields are plain strings so that an invalid
value reaches validation (a field error) instead of failing the parse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mpi_operator.api.constants import (
    CleanPodPolicy,
    ConditionStatus,
    LauncherCreationPolicy,
    MPIImplementation,
    RestartPolicy,
)

JSON = dict[str, Any]


def _enum(values: type[Any]) -> dict[str, Any]:
    return {"enum": [v.value for v in values]}


INT32: dict[str, Any] = {"format": "int32"}
INT64: dict[str, Any] = {"format": "int64"}
DATE_TIME: dict[str, Any] = {"format": "date-time"}


class APIModel(BaseModel):
    """Base of every API type: camelCase aliases, unknown fields kept, assignment by either name."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_assignment=True,
    )

    def to_dict(self) -> JSON:
        """The JSON form: camelCase names, only the fields that were set (defaults applied count as set)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class SchedulingPolicy(APIModel):
    """Gang-scheduling knobs for the PodGroup (Volcano or scheduler-plugins)."""

    min_available: int | None = Field(default=None, json_schema_extra=INT32)
    queue: str | None = None
    min_resources: dict[str, int | str] | None = None
    priority_class: str | None = None
    schedule_timeout_seconds: int | None = Field(default=None, json_schema_extra=INT32)


class RunPolicy(APIModel):
    """Run-time policies: cleanup, TTL, deadline, backoff, gang scheduling, suspend, managedBy."""

    clean_pod_policy: str | None = Field(default=None, json_schema_extra=_enum(CleanPodPolicy))
    ttl_seconds_after_finished: int | None = Field(default=None, json_schema_extra=INT32)
    active_deadline_seconds: int | None = Field(default=None, json_schema_extra=INT64)
    backoff_limit: int | None = Field(default=None, json_schema_extra=INT32)
    scheduling_policy: SchedulingPolicy | None = None
    suspend: bool | None = None
    managed_by: str | None = None


class ReplicaSpec(APIModel):
    """One replica type (Launcher or Worker): how many, which pod template, which restart policy."""

    replicas: int | None = Field(default=None, json_schema_extra=INT32)
    template: JSON = Field(default_factory=dict)
    restart_policy: str | None = Field(default=None, json_schema_extra=_enum(RestartPolicy))


class MPIJobSpec(APIModel):
    slots_per_worker: int | None = Field(default=None, json_schema_extra=INT32)
    run_launcher_as_worker: bool | None = None
    run_policy: RunPolicy | None = None
    mpi_replica_specs: dict[str, ReplicaSpec] | None = Field(default=None, alias="mpiReplicaSpecs")
    ssh_auth_mount_path: str | None = None
    launcher_creation_policy: str | None = Field(
        default=None, json_schema_extra=_enum(LauncherCreationPolicy)
    )
    mpi_implementation: str | None = Field(default=None, json_schema_extra=_enum(MPIImplementation))


class JobCondition(APIModel):
    type: str
    status: str = Field(json_schema_extra=_enum(ConditionStatus))
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = Field(default=None, json_schema_extra=DATE_TIME)
    last_transition_time: str | None = Field(default=None, json_schema_extra=DATE_TIME)


class ReplicaStatus(APIModel):
    active: int | None = Field(default=None, json_schema_extra=INT32)
    succeeded: int | None = Field(default=None, json_schema_extra=INT32)
    failed: int | None = Field(default=None, json_schema_extra=INT32)
    label_selector: JSON | None = None
    selector: str | None = None


class JobStatus(APIModel):
    conditions: list[JobCondition] | None = None
    replica_statuses: dict[str, ReplicaStatus] | None = None
    start_time: str | None = Field(default=None, json_schema_extra=DATE_TIME)
    completion_time: str | None = Field(default=None, json_schema_extra=DATE_TIME)
    last_reconcile_time: str | None = Field(default=None, json_schema_extra=DATE_TIME)
    # Ours, not upstream's: the job's state now (`kubectl get`'s State column), derived from the conditions'
    # status by `controller.conditions.job_state`.
    state: str | None = None


class MPIJob(APIModel):
    api_version: str | None = None
    kind: str | None = None
    metadata: JSON = Field(default_factory=dict)
    spec: MPIJobSpec = Field(default_factory=MPIJobSpec)
    status: JobStatus | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))
