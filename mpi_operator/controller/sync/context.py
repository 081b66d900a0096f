"""What every sync step works with: the caches, one `OwnedKind` per child kind, the MPIJob resource (status
writes), the Event recorder, the options, the metrics and the clock.

Invariant: built once per controller; steps read the caches and write only through the kinds here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mpi_operator.controller.cache import MPIJOBS, Caches
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.sync.owned import OwnedKind
from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.resource import Resource


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Kinds:
    """The kinds an MPIJob owns; `podgroups` only with gang scheduling."""

    pods: OwnedKind
    jobs: OwnedKind
    services: OwnedKind
    configmaps: OwnedKind
    secrets: OwnedKind
    podgroups: OwnedKind | None

    @classmethod
    def build(cls, client: Client, caches: Caches, recorder: EventRecorder) -> Kinds:
        def kind(informer: Informer) -> OwnedKind:
            return OwnedKind(informer, client.resource(informer.resource.type), recorder)

        return cls(pods=kind(caches.pods), jobs=kind(caches.jobs), services=kind(caches.services),
                   configmaps=kind(caches.configmaps), secrets=kind(caches.secrets),
                   podgroups=kind(caches.podgroups) if caches.podgroups is not None else None)


@dataclass
class SyncContext:
    caches: Caches
    kinds: Kinds
    mpijobs: Resource
    recorder: EventRecorder
    options: ControllerOptions
    metrics: ControllerMetrics
    now: Callable[[], str] = utc_now
    # Worker pods without an index label already warned about (uids), so the Warning is said once per pod.
    warned_unindexed: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, client: Client, caches: Caches, recorder: EventRecorder, options: ControllerOptions,
              metrics: ControllerMetrics, now: Callable[[], str] = utc_now) -> SyncContext:
        return cls(caches, Kinds.build(client, caches, recorder), client.resource(MPIJOBS), recorder, options,
                   metrics, now)
