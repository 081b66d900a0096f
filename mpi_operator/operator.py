"""The running operator: client, CRD check, monitoring server, leader election and the MPIJob controller.

Invariant: only the leader runs workers; losing the lease stops reconciling at once and the process rejoins
as a follower. SIGTERM/SIGINT: stop taking keys, finish in-flight work within a bound, release the lease,
close streams, exit 0 (decisions Q35). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from mpi_operator.controller.cache import MPIJOBS
from mpi_operator.controller.controller import MPIJobController
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client, ConfigError
from mpi_operator.kube.errors import ApiError, Forbidden, NotFound, Unauthorized
from mpi_operator.kube.http import MonitoringServer
from mpi_operator.kube.leaderelection import LeaderElectionConfig, LeaderElector
from mpi_operator.kube.logs import configure_logging
from mpi_operator.kube.metrics import WorkqueueMetrics
from mpi_operator.settings import OperatorSettings

log = logging.getLogger("mpi_operator")
LEASE_NAME = "mpi-operator"
SHUTDOWN_GRACE_SECONDS = 10.0


def run_operator(settings: OperatorSettings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    try:
        return asyncio.run(Operator(settings).run())
    except KeyboardInterrupt:
        return 130


class Operator:
    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.metrics = ControllerMetrics()
        self.workqueue_metrics = WorkqueueMetrics()
        self.monitoring = MonitoringServer()
        self.controller: MPIJobController | None = None
        self.stopping = asyncio.Event()

    def options(self) -> ControllerOptions:
        return ControllerOptions(cluster_domain=self.settings.cluster_domain,
                                 gang_scheduling=self.settings.gang_scheduling)

    async def run(self) -> int:
        s = self.settings
        try:
            client = await Client.connect(s.kubeconfig, s.master, s.kube_api_qps, s.kube_api_burst)
        except (ConfigError, OSError, ValueError, TypeError) as exc:
            log.error("cannot build a Kubernetes client: %s", exc)
            return 1
        except Exception as exc:  # kubernetes_asyncio's loaders raise their own types for broken kubeconfigs
            log.error("cannot build a Kubernetes client: %s: %s", type(exc).__name__, exc)
            return 1
        async with client:
            if not await self._crd_installed(client):
                return 1
            self._install_signal_handlers()
            ports = [p for p in (s.health_port, s.monitoring_port) if p]
            if ports:
                await self.monitoring.start(*dict.fromkeys(ports))
            self.monitoring.add_readiness_check("caches", self._caches_ready)
            try:
                await self._serve(client)
            finally:
                await self.monitoring.stop()
        log.info("stopped")
        return 0

    async def _crd_installed(self, client: Client) -> bool:
        try:
            await client.resource(MPIJOBS).list(self.settings.namespace or None, limit=1)
        except NotFound:
            log.error("the MPIJob CRD (mpijobs.kubeflow.org) does not exist; install manifests/ first. Exiting")
            return False
        except (Unauthorized, Forbidden) as exc:
            log.error("not allowed to list MPIJobs: %s", exc)
            return False
        except ApiError as exc:
            log.warning("could not check for the MPIJob CRD: %s", exc)
        return True

    def _caches_ready(self) -> str | None:
        if self.controller is None:
            # A follower is ready: it serves metrics and stands by to take over (only the leader has caches).
            return None if self.settings.leader_elect else "starting"
        # decisions Q26: a Forbidden list/watch shows here instead of crash-looping the process.
        problems = [r for r in (i.not_ready_reason() for i in self.controller.caches.all()) if r]
        return "; ".join(problems) or None

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if self.stopping.is_set():
                log.warning("second signal: exiting at once")
                os._exit(1)
            log.info("signal received: shutting down")
            self.stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal)

    async def _lead(self, client: Client) -> None:
        s = self.settings
        self.controller = MPIJobController(
            client, self.options(), self.metrics, self.workqueue_metrics, namespace=s.namespace,
            queue_rate=s.controller_queue_rate_limit, queue_burst=s.controller_queue_burst,
            threadiness=s.threadiness, slim_cache=s.cache_transform)
        self.metrics.is_leader.set(1)
        try:
            await self.controller.run()
        finally:
            self.metrics.is_leader.set(0)
            self.controller = None

    async def _serve(self, client: Client) -> None:
        stop = asyncio.create_task(self.stopping.wait())
        # Its own client and rate limit: lease renewals never queue behind reconcile traffic.
        election_client = client.derive(user_agent=f"{client.user_agent} leader-election")
        try:
            while not self.stopping.is_set():
                if self.settings.leader_elect:
                    config = LeaderElectionConfig(
                        lock_namespace=self.settings.lock_namespace, lock_name=LEASE_NAME,
                        lease_duration=self.settings.leader_elect_lease_duration,
                        renew_deadline=self.settings.leader_elect_renew_deadline,
                        retry_period=self.settings.leader_elect_retry_period)
                    elector = LeaderElector(election_client, config, lambda: self._lead(client))
                    work = asyncio.create_task(elector.run())
                else:
                    work = asyncio.create_task(self._lead(client))
                await asyncio.wait({stop, work}, return_when=asyncio.FIRST_COMPLETED)
                if not work.done() and self.controller is not None:
                    # Stop handing out keys; workers finish what they hold, then the lease is released.
                    self.controller.queue.shutdown_now()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait({work}, timeout=SHUTDOWN_GRACE_SECONDS)
                if not work.done():
                    work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(work, 5)
                if work.done() and not work.cancelled() and work.exception() is not None:
                    log.error("controller stopped with an error: %r", work.exception())
                    if not self.settings.leader_elect:
                        raise SystemExit(1)
                if not self.stopping.is_set():
                    log.warning("lost leadership; rejoining as a follower")
        finally:
            stop.cancel()
            await election_client.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_operator(OperatorSettings()))
