"""The running operator: monitoring server, client, start-up checks, leader election and the MPIJob controller.

Invariant: only the leader runs workers; losing the lease stops reconciling at once and the process rejoins
as a follower. A stop signal (SIGTERM/SIGINT) is honoured in every phase (docs/decisions.md Q35): during start-up and
while campaigning it ends the process at once and no lease is taken after it; while the caches sync, leading
stops at once; while running, queued keys are dropped, in-flight syncs get --shutdown-grace-period to finish
(then are cancelled), and the lease is released. Exit 0. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from mpi_operator.controller.controller import MPIJobController
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client
from mpi_operator.kube.http import MonitoringServer
from mpi_operator.kube.kubeconfig import ConfigError
from mpi_operator.kube.leaderelection import LeaderElectionConfig, LeaderElector
from mpi_operator.kube.logs import configure_logging
from mpi_operator.kube.metrics import RestClientMetrics, WorkqueueMetrics
from mpi_operator.preflight import StartupError, check_crds, check_server
from mpi_operator.settings import OperatorSettings

log = logging.getLogger("mpi_operator")
LEASE_NAME = "mpi-operator"
# After the grace period, cancelled syncs and the lease release get this long before the process gives up on them.
CANCEL_SECONDS = 5.0
T = TypeVar("T")


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
        self.rest_metrics = RestClientMetrics()
        self.monitoring = MonitoringServer()
        self.controller: MPIJobController | None = None
        self.elector: LeaderElector | None = None
        self.caches_synced = asyncio.Event()
        self.stopping = asyncio.Event()
        # What start-up is doing, for /readyz; None once it is done.
        self.phase: str | None = "starting"

    def options(self) -> ControllerOptions:
        return ControllerOptions(cluster_domain=self.settings.cluster_domain,
                                 gang_scheduling=self.settings.gang_scheduling)

    async def run(self) -> int:
        self._install_signal_handlers()
        self.monitoring.add_readiness_check("startup", lambda: self.phase)
        self.monitoring.add_readiness_check("leader-election", self._election_ready)
        self.monitoring.add_readiness_check("caches", self._caches_ready)
        try:
            if not await self._listen():
                return 1
            return await self._connect_and_serve()
        finally:
            await self.monitoring.stop()

    async def _listen(self) -> bool:
        """Open the monitoring ports first: /healthz answers and /readyz says what start-up waits for."""
        s = self.settings
        for flag, port in (("--health-port", s.health_port), ("--monitoring-port", s.monitoring_port)):
            if not port or (flag == "--monitoring-port" and port == s.health_port):
                continue
            try:
                await self.monitoring.start(port)
            except OSError as exc:
                why = os.strerror(exc.errno) if exc.errno else str(exc)
                log.error(f"cannot listen on port {port} ({flag}={port}): {why}; choose a free port, or 0 to turn "
                          "it off")
                return False
        return True

    async def _connect_and_serve(self) -> int:
        s = self.settings
        self.phase = "starting: reading the cluster configuration"
        try:
            client = await self._unless_stopped(Client.connect(
                s.kubeconfig, s.master, s.kube_api_qps, s.kube_api_burst, kubeconfig_source=s.kubeconfig_source()))
        except ConfigError as exc:
            log.error(f"cannot build a Kubernetes client: {exc}")
            return 1
        if client is None:
            return 0
        self.rest_metrics.attach(client)  # the leader-election client derived from it inherits the observer
        async with client:
            self.phase = f"starting: checking {client.describe()}"
            try:
                checked = await self._unless_stopped(self._preflight(client))
            except StartupError as exc:
                log.error(str(exc))
                return 1
            if checked:
                self.phase = None
                await self._serve(client)
        log.info("stopped")
        return 0

    async def _preflight(self, client: Client) -> bool:
        version = await check_server(client)
        log.info("connected", extra={"server": client.host, "version": version, "from": client.origin})
        await check_crds(client, self.settings.namespace, self.options())
        return True

    async def _unless_stopped(self, work: Coroutine[Any, Any, T]) -> T | None:
        """The result of `work`, or None (with `work` cancelled) when a stop signal comes first."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return task.result()

    def _election_ready(self) -> str | None:
        if self.elector is None or self.elector.problem is None:
            return None
        # A candidate that cannot even compete for the lease can never take over: not ready.
        return f"{self.elector.problem} (lease {self.settings.lock_namespace}/{LEASE_NAME}, --lock-namespace)"

    def _caches_ready(self) -> str | None:
        if self.controller is None:
            # A follower is ready: it serves metrics and stands by to take over (only the leader has caches).
            return None if self.settings.leader_elect else "starting"
        # docs/decisions.md Q26: a Forbidden list/watch shows here instead of crash-looping the process.
        problems = [r for r in (i.not_ready_reason() for i in self.controller.caches.all()) if r]
        return "; ".join(problems) or None

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if self.stopping.is_set():
                log.warning("second signal: exiting at once")
                os._exit(1)
            log.info("signal received: shutting down", extra={"signal": sig.name})
            self.phase = "shutting down"
            self.stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal, sig)

    async def _lead(self, client: Client) -> None:
        s = self.settings
        self.caches_synced.clear()
        self.controller = MPIJobController(
            client, self.options(), self.metrics, self.workqueue_metrics, namespace=s.namespace,
            queue_rate=s.controller_queue_rate_limit, queue_burst=s.controller_queue_burst,
            threadiness=s.threadiness, slim_cache=s.cache_transform)
        self.metrics.is_leader.set(1)
        try:
            await self.controller.run(ready=self.caches_synced)
        finally:
            self.metrics.is_leader.set(0)
            self.controller = None

    def _campaign(self, client: Client, election_client: Client) -> asyncio.Task[None]:
        if not self.settings.leader_elect:
            return asyncio.create_task(self._lead(client))
        s = self.settings
        config = LeaderElectionConfig(
            lock_namespace=s.lock_namespace, lock_name=LEASE_NAME, lease_duration=s.leader_elect_lease_duration,
            renew_deadline=s.leader_elect_renew_deadline, retry_period=s.leader_elect_retry_period)
        self.elector = LeaderElector(election_client, config, lambda: self._lead(client))
        return asyncio.create_task(self.elector.run())

    async def _serve(self, client: Client) -> None:
        # Its own client and rate limit: lease renewals never queue behind reconcile traffic.
        election_client = client.derive(user_agent=f"{client.user_agent} leader-election")
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                work = self._campaign(client, election_client)
                await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not work.done():
                    await self._stop(work)
                    return
                error = None if work.cancelled() else work.exception()
                if error is not None:
                    log.error("controller stopped with an error: %r", error)
                    if not self.settings.leader_elect:
                        raise SystemExit(1)
                if not self.stopping.is_set():
                    log.warning("lost leadership; rejoining as a follower")
        finally:
            stop.cancel()
            await election_client.close()

    async def _stop(self, work: asyncio.Task[None]) -> None:
        """Stop leading or campaigning after a signal, within the grace period; the elector releases the lease."""
        controller = self.controller
        if controller is not None and self.caches_synced.is_set():
            # Running: hand out no more keys; the workers finish what they hold, then leading ends by itself.
            controller.queue.shutdown_now()
            done, _ = await asyncio.wait({work}, timeout=self.settings.shutdown_grace_period)
            if not done:
                log.warning("in-flight reconciles did not finish within the grace period; cancelling them",
                            extra={"grace_seconds": self.settings.shutdown_grace_period})
        # Campaigning or syncing caches: nothing in flight is worth waiting for, so cancel at once.
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(work, CANCEL_SECONDS)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_operator(OperatorSettings()))
