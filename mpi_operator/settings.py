"""Operator settings: every upstream flag with its upstream default, as one pydantic object.

Environment: KUBEFLOW_NAMESPACE seeds --namespace; a non-empty KUBECONFIG overrides --kubeconfig (as upstream).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field


class OperatorSettings(BaseModel):
    master: str = ""
    kubeconfig: str = ""
    namespace: str = ""
    threadiness: int = Field(default=2, ge=1)
    monitoring_port: int = Field(default=0, ge=0, le=65535)
    gang_scheduling: str = ""
    lock_namespace: str = "mpi-operator"
    kube_api_qps: float = Field(default=5.0, gt=0)
    kube_api_burst: int = Field(default=10, ge=1)
    controller_queue_rate_limit: float = Field(default=10.0, gt=0)
    controller_queue_burst: int = Field(default=100, ge=1)
    cluster_domain: str = ""
    # Beyond upstream.
    leader_elect: bool = True
    leader_elect_lease_duration: float = Field(default=15.0, gt=0)
    leader_elect_renew_deadline: float = Field(default=10.0, gt=0)
    leader_elect_retry_period: float = Field(default=2.0, gt=0)
    health_port: int = Field(default=8080, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # Hidden (benchmark only): keep whole objects in the caches, to measure what the cache transforms save.
    cache_transform: bool = True

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
