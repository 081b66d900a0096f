"""Operator settings: every upstream flag with its upstream default, as one pydantic object.

Environment: KUBEFLOW_NAMESPACE seeds --namespace; a non-empty KUBECONFIG overrides --kubeconfig (as upstream).
Invariant: a settings object is valid as a whole (ranges, names, URL, the leader-election timing rule); the
command line reports a violation as the flag (or variable) that caused it, with the allowed range.
"""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from mpi_operator.cliflags import LOG_LEVELS, NAMESPACE_RULE, is_namespace_name, normalize_log_level


class OperatorSettings(BaseModel):
    master: str = ""
    kubeconfig: str = ""
    namespace: str = ""
    threadiness: int = Field(default=2, ge=1)
    monitoring_port: int = Field(default=0, ge=0, le=65535)
    gang_scheduling: str = ""
    lock_namespace: str = "mpi-operator"
    kube_api_qps: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    kube_api_burst: int = Field(default=10, ge=1)
    controller_queue_rate_limit: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    controller_queue_burst: int = Field(default=100, ge=1)
    cluster_domain: str = ""
    # Beyond upstream.
    leader_elect: bool = True
    leader_elect_lease_duration: float = Field(default=15.0, gt=0, allow_inf_nan=False)
    leader_elect_renew_deadline: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    leader_elect_retry_period: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    shutdown_grace_period: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    health_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # Hidden (benchmark only): keep whole objects in the caches, to measure what the cache transforms save.
    cache_transform: bool = True

    @field_validator("namespace", "lock_namespace")
    @classmethod
    def _namespace_name(cls, value: str, info: Any) -> str:
        if value == "" and info.field_name == "namespace":
            return value  # all namespaces
        if not is_namespace_name(value):
            raise ValueError(f"must be a namespace name: {NAMESPACE_RULE}")
        return value

    @field_validator("master")
    @classmethod
    def _master_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be the API server's URL, e.g. https://10.0.0.1:6443")
            try:
                _ = parts.port
            except ValueError:
                raise ValueError("has a port that is not a number from 0 to 65535") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = normalize_log_level(value)
        if level is None:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _leader_election_timing(self) -> OperatorSettings:
        # Imported here: the runtime pulls in the Kubernetes client, which `validate` and `render` never need.
        from mpi_operator.kube.leaderelection import JITTER_FACTOR, valid_timing

        lease, renew, retry = (self.leader_elect_lease_duration, self.leader_elect_renew_deadline,
                               self.leader_elect_retry_period)
        if self.leader_elect and not valid_timing(lease, renew, retry):
            raise ValueError(
                f"leader election needs --leader-elect-lease-duration ({lease:g}) > --leader-elect-renew-deadline "
                f"({renew:g}) > {JITTER_FACTOR} x --leader-elect-retry-period ({retry:g}); the defaults are 15, 10 "
                "and 2")
        return self

    @classmethod
    def from_env_defaults(cls) -> dict[str, str]:
        """Defaults that come from the environment, before flags are applied."""
        return {"namespace": os.environ.get("KUBEFLOW_NAMESPACE", "")}

    def with_env_overrides(self) -> OperatorSettings:
        """Apply the overrides upstream gives the environment over flags."""
        kubeconfig = os.environ.get("KUBECONFIG", "")
        if kubeconfig:
            return self.model_copy(update={"kubeconfig": kubeconfig})
        return self

    def kubeconfig_source(self) -> str:
        """Where `kubeconfig` came from, for messages."""
        env = os.environ.get("KUBECONFIG", "")
        return "$KUBECONFIG" if env and env == self.kubeconfig else "--kubeconfig"


def allowed_values(field: str) -> str:
    """The range a numeric setting accepts, in words ("an integer from 0 to 65535")."""
    info = OperatorSettings.model_fields[field]
    kind = "an integer" if is_integer(field) else "a number"
    bounds = {name: getattr(m, name) for m in info.metadata for name in ("ge", "gt", "le") if hasattr(m, name)}
    low = f"at least {bounds['ge']:g}" if "ge" in bounds else (
        f"greater than {bounds['gt']:g}" if "gt" in bounds else None)
    high = bounds.get("le")
    if high is not None and low is not None and low.startswith("at least "):
        return f"{kind} from {low.removeprefix('at least ')} to {high:g}"
    if low is not None and low.startswith("at least "):
        low = "of " + low
    return " ".join(part for part in (kind, low, f"at most {high:g}" if high is not None else None) if part)


def is_integer(field: str) -> bool:
    return OperatorSettings.model_fields[field].annotation in (int, "int")


def explain_invalid(error: ValidationError, sources: dict[str, str]) -> list[str]:
    """One line per problem, naming the flag (or the environment variable in `sources`) and what is allowed."""
    lines = []
    for problem in error.errors():
        if not problem["loc"]:
            lines.append(problem["msg"].removeprefix("Value error, "))
            continue
        field = str(problem["loc"][0])
        origin = sources.get(field, "--" + field.replace("_", "-"))
        value = problem.get("input")
        if problem["type"] == "value_error":
            why = problem["msg"].removeprefix("Value error, ")
        else:
            why = f"must be {allowed_values(field)}" if field in OperatorSettings.model_fields else problem["msg"]
        lines.append(f"{origin}={value}: {why}" if value is not None else f"{origin}: {why}")
    return lines
