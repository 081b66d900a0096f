"""The real target's progress feed: list+watch over HTTP of MPIJobs and every kind of their children, cluster
wide, with admin credentials, so progress is timed from what the API server serves and not from any driver.

One watch per kind for the whole run; each tracker subscribes for its namespace (`listen`), as the sandbox's
trackers subscribe to its store. Handlers run on the event loop, so a tracker is fed without locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

from mpi_operator.api.constants import JOB_ROLE_LABEL
from mpi_operator.bench.workload import Observer
from mpi_operator.controller.cache import MPIJOBS
from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer, wait_for_cache_sync
from mpi_operator.kube.resource import CONFIGMAPS, JOBS, PODS, SECRETS, SERVICES, ResourceType

WATCHED = (MPIJOBS, PODS, SERVICES, CONFIGMAPS, SECRETS, JOBS)


def resource_name(rtype: ResourceType) -> str:
    """`pods`, `jobs.batch`, `mpijobs.kubeflow.org`: the names the progress tracker knows kinds by."""
    return rtype.plural + (f".{rtype.group}" if rtype.group else "")


class ClusterWatch:
    """`async with ClusterWatch(client) as watch:` synced watches of every watched kind until the block ends."""

    def __init__(self, client: Client) -> None:
        self.informers: list[Informer] = []
        self.observers: list[Observer] = []
        for rtype in WATCHED:
            # Only the MPIJob conditions and the children's owners are read: keep nothing else in memory. Of
            # the pods only workers are children: launcher pods' events are not worth decoding.
            selector = f"{JOB_ROLE_LABEL}=worker" if rtype == PODS else None
            informer = Informer(client.resource(rtype), label_selector=selector, transform=_slim)
            self._feed(informer, resource_name(rtype))
            self.informers.append(informer)

    def _feed(self, informer: Informer, resource: str) -> None:
        def on_add(obj: dict[str, Any]) -> None:
            self._fire(resource, True, obj)

        def on_update(_old: dict[str, Any], new: dict[str, Any]) -> None:
            self._fire(resource, False, new)

        informer.add_handler(on_add=on_add, on_update=on_update)

    def _fire(self, resource: str, added: bool, obj: dict[str, Any]) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for observer in list(self.observers):
            observer(namespace, resource, added, obj)

    def listen(self, observer: Observer) -> Callable[[], None]:
        self.observers.append(observer)
        return lambda: self.observers.remove(observer)

    async def __aenter__(self) -> ClusterWatch:
        for informer in self.informers:
            informer.start()
        if not await wait_for_cache_sync(self.informers, within=60.0):
            await self._stop()
            raise TimeoutError("the progress watches did not sync within 60s")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._stop()

    async def _stop(self) -> None:
        await asyncio.gather(*(informer.stop() for informer in self.informers))


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "ownerReferences") if k in meta}
    status = obj.get("status") or {}
    return {"metadata": kept, "status": {"conditions": status.get("conditions") or []}}
