"""The MPIJob controller: informers feed a de-duplicating workqueue through owner-mapping handlers, and
worker coroutines run `Reconciler.sync` on the keys.

Invariant: watch events enqueue without rate limiting (docs/decisions.md Q34); only failed syncs back off, so a
burst of events never delays fresh work. One key is never synced by two workers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from mpi_operator.controller import finalizer, names
from mpi_operator.controller.cache import Caches
from mpi_operator.controller.metrics import CONTROLLER, ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.controller.sync.outcome import ResourceConflict, Result, StepFailed
from mpi_operator.controller.sync.reconciler import Reconciler
from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import wait_for_cache_sync
from mpi_operator.kube.logs import log_context
from mpi_operator.kube.meta import JSON, metadata, object_key, resource_version
from mpi_operator.kube.metrics import WorkqueueMetrics
from mpi_operator.kube.ratelimit import default_controller_rate_limiter
from mpi_operator.kube.recorder import EventRecorder
from mpi_operator.kube.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)
QUEUE_NAME = "MPIJob"


class MPIJobController:
    def __init__(self, client: Client, options: ControllerOptions, metrics: ControllerMetrics,
                 workqueue_metrics: WorkqueueMetrics | None = None, namespace: str = "",
                 queue_rate: float = 10.0, queue_burst: int = 100, threadiness: int = 2,
                 slim_cache: bool = True) -> None:
        self.client = client
        self.options = options
        self.metrics = metrics
        self.threadiness = threadiness
        self.caches = Caches.build(client, options, namespace, slim=slim_cache)
        self.queue: WorkQueue[str] = WorkQueue(
            QUEUE_NAME, default_controller_rate_limiter(queue_rate, queue_burst),
            workqueue_metrics.for_queue(QUEUE_NAME) if workqueue_metrics is not None else None)
        self.recorder = EventRecorder(client, component="mpi-job-controller")
        self.reconciler = Reconciler(client, self.caches, self.recorder, options, metrics)
        self._wire_handlers()

    # --- handlers -------------------------------------------------------------------------------------

    def _wire_handlers(self) -> None:
        self.caches.mpijobs.add_handler(on_add=self._enqueue_job, on_update=lambda _old, new: self._enqueue_job(new),
                                        on_delete=self._job_deleted)
        for informer in self.caches.children():
            informer.add_handler(on_add=self._enqueue_owner, on_update=self._owner_updated,
                                 on_delete=self._enqueue_owner)

    def _enqueue_job(self, obj: JSON) -> None:
        self.queue.add(object_key(obj))

    def _job_deleted(self, obj: JSON) -> None:
        # docs/decisions.md Q32: the job_info series goes with its MPIJob.
        meta = metadata(obj)
        with contextlib.suppress(KeyError):
            self.metrics.job_info.remove(names.launcher_name_for(str(meta.get("name", ""))),
                                         meta.get("namespace", ""))

    def _enqueue_owner(self, obj: JSON) -> None:
        key = self.caches.owner_key(obj) or finalizer.orphaned_launcher_key(obj)
        if key is not None:
            self.queue.add(key)

    def _owner_updated(self, old: JSON, new: JSON) -> None:
        if resource_version(old) == resource_version(new):
            return
        self._enqueue_owner(new)

    # --- running --------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Start the caches, wait for their first list, then run the workers until cancelled."""
        tasks = [informer.start() for informer in self.caches.all()]
        self.recorder.start()
        try:
            await wait_for_cache_sync(self.caches.all())
            log.info("caches synced; starting workers", extra={"workers": self.threadiness})
            if ready is not None:
                ready.set()
            await run_workers(self.queue, self._sync, self.threadiness, on_error=self._sync_failed)
        finally:
            self.queue.shutdown()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.recorder.stop()

    async def _sync(self, key: str) -> Result:
        started = time.monotonic()
        with log_context(mpijob=key):
            try:
                result = await self.reconciler.sync(key)
            except Exception:
                self.metrics.reconcile_total.labels(CONTROLLER, "error").inc()
                self.metrics.reconcile_errors.labels(CONTROLLER).inc()
                raise
            finally:
                self.metrics.reconcile_time.labels(CONTROLLER).observe(time.monotonic() - started)
        outcome = "requeue" if result.requeue or result.requeue_after is not None else "success"
        self.metrics.reconcile_total.labels(CONTROLLER, outcome).inc()
        return result

    def _sync_failed(self, key: str, exc: BaseException) -> None:
        cause = exc.cause if isinstance(exc, StepFailed) else exc
        if isinstance(cause, ResourceConflict):
            log.warning("sync blocked by an object we do not control", extra={"mpijob": key, "error": str(exc)})
            return
        log.warning("sync failed, retrying", extra={"mpijob": key, "error": str(exc), "cause": repr(cause)})

