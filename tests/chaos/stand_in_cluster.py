"""A minimal stand-in for the node and the batch Job controller, writing through the sandbox store in-process.

Pods go Running and Ready as soon as they appear; a launcher Job finishes `run-seconds` after it is first seen,
Complete when its pod template's `exit-code` annotation is 0 (the default) and Failed otherwise. It writes
in-process, so the chaos faults (which act on HTTP requests) hit only the operator. Annotation names match the
simulated kubelet's (`sandbox.mpi-operator/...`) so jobs written for one run on the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from mpi_operator.sandbox.errors import ApiError
from mpi_operator.sandbox.store import Store
from mpi_operator.sandbox.timefmt import now_rfc3339

PREFIX = "sandbox.mpi-operator/"
EXIT_CODE = PREFIX + "exit-code"
RUN_SECONDS = PREFIX + "run-seconds"
JOBS = "jobs.batch"
FINAL = ("Complete", "Failed")


def _template_annotations(job: dict[str, Any]) -> dict[str, Any]:
    template = (job.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, dict) else {}


def _finished(job: dict[str, Any]) -> bool:
    return any(c.get("type") in FINAL and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class StandInCluster:
    def __init__(self, store: Store, period: float = 0.1) -> None:
        self.store = store
        self.period = period
        self._first_seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StandInCluster:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self.step()
            await asyncio.sleep(self.period)

    def step(self) -> None:
        now = time.monotonic()
        for pod in list(self.store.iter_objects("pods")):
            if (pod.get("status") or {}).get("phase") not in (None, "", "Pending"):
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            self._write_status("pods", pod, {"phase": "Running", "podIP": "10.1.0.1", "startTime": now_rfc3339(),
                                             "conditions": [{"type": "Ready", "status": "True"}]})
        for job in list(self.store.iter_objects(JOBS)):
            if _finished(job) or (job.get("spec") or {}).get("suspend"):
                continue
            first = self._first_seen.setdefault(job["metadata"]["uid"], now)
            annotations = _template_annotations(job)
            if now - first < float(annotations.get(RUN_SECONDS, "0.5")):
                continue
            stamp = now_rfc3339()
            if str(annotations.get(EXIT_CODE, "0")) == "0":
                status = {"startTime": stamp, "completionTime": stamp, "succeeded": 1, "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]}
            else:
                status = {"startTime": stamp, "failed": 1, "conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"},
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"}]}
            self._write_status(JOBS, job, status)

    def _write_status(self, resource: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(ApiError):  # gone or changed meanwhile: the next pass sees the new state
            self.store.patch(resource, meta["namespace"], meta["name"], "merge",
                             {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status},
                             subresource="status")
