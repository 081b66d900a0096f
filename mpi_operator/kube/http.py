"""The monitoring HTTP server (aiohttp): /metrics (Prometheus text), /healthz (the loop answers), /readyz.

Readiness = every registered check passes (e.g. informers synced) and no not-ready reason is set; the body
names what is missing. One app may listen on several ports (upstream's --monitoring-port, our --health-port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

# A check returns None when fine, else a short reason.
ReadinessCheck = Callable[[], str | None]


class MonitoringServer:
    def __init__(self, registry: CollectorRegistry = REGISTRY, host: str = "0.0.0.0") -> None:
        self.registry = registry
        self.host = host
        self._checks: dict[str, ReadinessCheck] = {}
        self._not_ready: str | None = None
        self._runner: web.AppRunner | None = None
        self.ports: list[int] = []
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    def set_not_ready(self, reason: str | None) -> None:
        """Force /readyz to fail with `reason` (None clears it)."""
        self._not_ready = reason

    def readiness(self) -> list[str]:
        """Reasons for not being ready; empty when ready."""
        reasons = [self._not_ready] if self._not_ready else []
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as exc:
                problem = f"check failed: {exc!r}"
            if problem:
                reasons.append(f"{name}: {problem}")
        return reasons

    async def start(self, *ports: int) -> list[int]:
        """Listen on each port (0 = pick a free one); returns the bound ports."""
        if self._runner is None:
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
        for port in ports:
            site = web.TCPSite(self._runner, self.host, port)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            bound = sockets[0].getsockname()[1] if sockets else port
            self.ports.append(bound)
            log.info("monitoring server listening", extra={"port": bound})
        return self.ports

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.ports = []

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        # Answering at all proves the event loop is turning.
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        reasons = self.readiness()
        if reasons:
            return web.Response(status=503, text="not ready:\n" + "\n".join(reasons) + "\n")
        return web.Response(text="ok")
