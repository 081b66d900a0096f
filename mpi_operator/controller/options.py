"""Operator options that shape the objects the controller builds (`--cluster-domain`, `--gang-scheduling`).

Invariant: immutable for the life of the process; builders read them, never change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

VOLCANO = "volcano"
# Kubernetes' own default, used for the worker DNS search entry when no domain is given (docs/decisions.md Q11).
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


class GangScheduler(StrEnum):
    NONE = ""
    VOLCANO = "volcano"
    SCHEDULER_PLUGINS = "scheduler-plugins"


@dataclass(frozen=True)
class ControllerOptions:
    """`cluster_domain` empty = hostnames without domain suffix; `gang_scheduling` empty = off,
    `volcano` = Volcano, any other value = scheduler-plugins with that value as the pod schedulerName."""

    cluster_domain: str = ""
    gang_scheduling: str = ""

    @property
    def gang_scheduler(self) -> GangScheduler:
        if not self.gang_scheduling:
            return GangScheduler.NONE
        if self.gang_scheduling == VOLCANO:
            return GangScheduler.VOLCANO
        return GangScheduler.SCHEDULER_PLUGINS

    @property
    def scheduler_name(self) -> str:
        """The schedulerName put on pod templates; empty when gang scheduling is off."""
        return self.gang_scheduling

    @property
    def dns_search_domain(self) -> str:
        """Cluster domain for the worker DNS search entry: always set, unlike the hostfile suffix."""
        return self.cluster_domain or DEFAULT_CLUSTER_DOMAIN
