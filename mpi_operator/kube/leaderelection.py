"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm and defaults (15 s/10 s/2 s).

Safety rests on the server's optimistic lock: every acquire/renew is a PUT carrying the resourceVersion read
just before, so of two candidates only one write wins. A lease is judged expired by the *local* time at which
this candidate last saw the record change, plus its leaseDurationSeconds — never by comparing clocks.
The leader's work runs as a task that is cancelled the moment renewal fails for `renew_deadline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import AlreadyExists, Conflict, KubeError, NotFound
from mpi_operator.kube.resource import LEASES

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2


def valid_timing(lease_duration: float, renew_deadline: float, retry_period: float) -> bool:
    """client-go's rule: a leader must give up before its lease can expire, and retry within the deadline."""
    return lease_duration > renew_deadline > JITTER_FACTOR * retry_period > 0


def default_identity() -> str:
    """POD_NAME (or the host name) plus a random suffix, so two processes on one host never share it."""
    base = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:8]}"


def micro_time(now: datetime | None = None) -> str:
    """Kubernetes MicroTime: RFC 3339 UTC with six fractional digits."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElectionConfig:
    lock_namespace: str
    lock_name: str
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not valid_timing(self.lease_duration, self.renew_deadline, self.retry_period):
            raise ValueError("need lease_duration > renew_deadline > 1.2 * retry_period > 0")


class LeaderElector:
    """Campaign for the lease, lead (run `on_started_leading`) while renewals succeed, then return."""

    def __init__(self, client: Client, config: LeaderElectionConfig,
                 on_started_leading: Callable[[], Coroutine[Any, Any, None]] | None = None,
                 on_stopped_leading: Callable[[], None] | None = None,
                 on_new_leader: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.leases = client.resource(LEASES)
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.is_leader = False
        self.observed_holder = ""
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        # Why the last attempt could not even compete (missing namespace, Forbidden, no answer); None when it
        # could. For /readyz: a candidate that can never lead is not ready.
        self.problem: str | None = None
        # A create/update of the lease is on the wire: if we are cancelled now it may still have made us holder.
        self._writing = False

    @property
    def identity(self) -> str:
        return self.config.identity

    async def run(self) -> None:
        """Acquire, lead until the lease is lost or the leading work ends, then return. Cancel to step down
        (the lease is released if `release_on_cancel`)."""
        leading: asyncio.Task[None] | None = None
        became_leader = False
        try:
            await self._acquire()
            self.is_leader = became_leader = True
            log.info("became leader", extra={"identity": self.identity, "lease": self.config.lock_name})
            if self.on_started_leading is not None:
                leading = asyncio.create_task(self.on_started_leading(), name="leading")
            await self._renew_until_lost(leading)
        finally:
            still_holder = self.is_leader
            self.is_leader = False
            if leading is not None and not leading.done():
                leading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await leading
            if became_leader:
                if still_holder and self.config.release_on_cancel:
                    await asyncio.shield(self._release())
                log.info("stopped leading", extra={"identity": self.identity})
                if self.on_stopped_leading is not None:
                    self.on_stopped_leading()
            elif self._writing and self.config.release_on_cancel:
                # Cancelled while a write to the lease was on the wire: it may have made us the holder after all.
                await asyncio.shield(self._release_if_held())

    # --- loops ----------------------------------------------------------------------------------------

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await asyncio.sleep(self.config.retry_period * (1 + random.random() * (JITTER_FACTOR - 1)))

    async def _renew_until_lost(self, leading: asyncio.Task[None] | None) -> None:
        cfg = self.config
        while True:
            # Wait one retry period, or less if the leading work finished (then step down).
            if leading is not None:
                done, _ = await asyncio.wait({leading}, timeout=cfg.retry_period)
                if done:
                    exc = leading.exception()
                    if exc is not None:
                        log.error("leading work failed", extra={"error": repr(exc)})
                    return
            else:
                await asyncio.sleep(cfg.retry_period)
            deadline = time.monotonic() + cfg.renew_deadline
            while True:
                try:
                    renewed = await asyncio.wait_for(self._try_acquire_or_renew(),
                                                     max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    renewed = False
                if renewed:
                    break
                if time.monotonic() >= deadline:
                    log.error("failed to renew the lease within the deadline; stepping down",
                              extra={"identity": self.identity})
                    self.is_leader = False  # no release: it is not ours to release any more
                    return
                await asyncio.sleep(min(cfg.retry_period, max(0.0, deadline - time.monotonic())))

    # --- one attempt ----------------------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now = micro_time()
        desired = {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, math.ceil(cfg.lease_duration)),
                   "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        try:
            lease = await self.leases.get(cfg.lock_name, cfg.lock_namespace)
        except NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": cfg.lock_name, "namespace": cfg.lock_namespace}, "spec": desired}
            try:
                self._lease = await self._write(self.leases.create(body, cfg.lock_namespace))
            except AlreadyExists:
                return False  # another candidate created it first
            except NotFound as exc:
                if exc.details.get("kind") == "namespaces":
                    return self._failed(f'the lease namespace "{cfg.lock_namespace}" does not exist')
                return self._failed(f"cannot create the lease: {exc}")
            except KubeError as exc:
                return self._failed(f"cannot create the lease: {exc}")
            self._observe(desired)
            return self._competed(True)
        except KubeError as exc:
            return self._failed(f"cannot read the lease: {exc}")

        spec: dict[str, Any] = dict(lease.get("spec") or {})
        self._observe(spec)
        holder = str(spec.get("holderIdentity") or "")
        duration = float(spec.get("leaseDurationSeconds") or 0)
        if holder and holder != self.identity and self._observed_at + duration > time.monotonic():
            return self._competed(False)  # held by someone else and not expired
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            desired["acquireTime"] = spec.get("acquireTime") or now
            desired["leaseTransitions"] = transitions
        else:
            desired["leaseTransitions"] = transitions + 1
        updated = dict(lease)
        updated["spec"] = {**spec, **desired}
        try:
            self._lease = await self._write(self.leases.update(updated))
        except Conflict:
            return self._competed(False)  # someone else wrote first
        except KubeError as exc:
            return self._failed(f"cannot update the lease: {exc}")
        self._observe(updated["spec"])
        return self._competed(True)

    async def _write(self, write: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        """One create/update of the lease. Cancelled on the wire, `_writing` stays set, so that `run()` reads
        the lease and releases it if the write made us the holder after all."""
        self._writing = True
        try:
            result = await write
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._writing = False
            raise
        self._writing = False
        return result

    def _failed(self, problem: str) -> bool:
        """An attempt that could not compete. Logged when the problem is new, not every retry period."""
        if problem != self.problem:
            log.error("leader election cannot proceed; retrying", extra={
                "problem": problem, "lease": f"{self.config.lock_namespace}/{self.config.lock_name}"})
        self.problem = problem
        return False

    def _competed(self, won: bool) -> bool:
        if self.problem is not None:
            log.info("leader election proceeds again", extra={"was": self.problem})
            self.problem = None
        return won

    def _observe(self, spec: dict[str, Any]) -> None:
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = time.monotonic()
        holder = str(spec.get("holderIdentity") or "")
        if holder != self.observed_holder:
            self.observed_holder = holder
            if self.on_new_leader is not None and holder:
                try:
                    self.on_new_leader(holder)
                except Exception:
                    log.exception("on_new_leader callback failed")

    async def _release_if_held(self) -> None:
        """Read the lease and release it if it names us (after a write whose answer we did not wait for)."""
        cfg = self.config
        try:
            self._lease = await asyncio.wait_for(self.leases.get(cfg.lock_name, cfg.lock_namespace),
                                                 cfg.retry_period * 2)
        except (KubeError, TimeoutError):
            return  # nothing to release, or no way to know: the lease expires on its own
        await self._release()

    async def _release(self) -> None:
        """Give the lease up at once: empty holder, 1 s duration (client-go's release)."""
        if self._lease is None:
            return
        now = micro_time()
        lease = dict(self._lease)
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            return
        spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now})
        lease["spec"] = spec
        try:
            self._lease = await asyncio.wait_for(self.leases.update(lease), self.config.retry_period * 2)
            log.info("released the lease", extra={"identity": self.identity})
        except (KubeError, TimeoutError) as exc:
            log.warning("could not release the lease", extra={"error": str(exc)})
