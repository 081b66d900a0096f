"""The floor: the least a client must send the API server to run one MPIJob, on the operator's own HTTP stack
(the same aiohttp-based `Client`, limits raised alike) against the same sandbox, in its own process.

Per job it creates exactly the children (Service, ConfigMap, Secret, W worker pods, launcher Job, all at once)
and writes one `Created` status; with the simulated cluster (`--lifecycle`) also the ConfigMap's running-hosts
update and `Running` status once every pod runs, and on success the `Succeeded` status and the worker-pod
deletions cleanPodPolicy Running asks for. It reads only watch streams, emits no Events and never retries: it
is the lower bound the operator is compared with, not a controller. Run: `python -m mpi_operator.bench.floor`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from mpi_operator.api.constants import JOB_NAME_LABEL, KIND, OPERATOR_NAME, OPERATOR_NAME_LABEL
from mpi_operator.api.defaults import apply_defaults
from mpi_operator.api.types import MPIJob
from mpi_operator.api.validation import parse_mpijob
from mpi_operator.controller import configmap, launcher, names, service, spec, ssh, worker
from mpi_operator.controller.cache import MPIJOBS
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client, load_configuration
from mpi_operator.kube.informer import Informer, wait_for_cache_sync
from mpi_operator.kube.logs import configure_logging
from mpi_operator.kube.resource import CONFIGMAPS, JOBS, PODS, SECRETS, SERVICES

JSON = dict[str, Any]
FLOOR_USER_AGENT = "bench-floor/1 (python)"
FLOOR_CLIENT = "bench-floor"  # its accounting client id
READY_LINE = "floor ready"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(condition_type: str, reason: str, message: str) -> JSON:
    now = _now()
    return {"type": condition_type, "status": "True", "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now}


class Floor:
    def __init__(self, client: Client, namespace: str, concurrency: int, lifecycle: bool) -> None:
        self.client = client
        self.options = ControllerOptions()
        self.concurrency = concurrency
        self.lifecycle = lifecycle
        self.mpijobs = Informer(client.resource(MPIJOBS), namespace=namespace)
        self.pods = Informer(client.resource(PODS), namespace=namespace,
                             label_selector=f"{OPERATOR_NAME_LABEL}={OPERATOR_NAME}")
        self.jobs = Informer(client.resource(JOBS), namespace=namespace)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.pending: set[str] = set()  # keys in the queue: a burst of pod events costs one sync
        self.stage: dict[str, str] = {}  # job key -> last stage written: created, running, succeeded
        self.parsed: dict[str, MPIJob] = {}
        self.conditions: dict[str, list[JSON]] = {}  # what the floor wrote: a merge patch replaces the list

    def informers(self) -> list[Informer]:
        return [self.mpijobs, self.pods, self.jobs] if self.lifecycle else [self.mpijobs]

    async def run(self) -> None:
        self.mpijobs.add_handler(on_add=lambda obj: self._enqueue(f"{obj['metadata']['namespace']}/"
                                                                  f"{obj['metadata']['name']}"))
        if self.lifecycle:
            for informer in (self.pods, self.jobs):
                informer.add_handler(on_add=self._child_changed, on_update=lambda _o, n: self._child_changed(n))
        tasks = [informer.start() for informer in self.informers()]
        await wait_for_cache_sync(self.informers())
        print(READY_LINE, flush=True)
        tasks += [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        await asyncio.gather(*tasks)

    def _enqueue(self, key: str) -> None:
        if key not in self.pending:
            self.pending.add(key)
            self.queue.put_nowait(key)

    def _child_changed(self, obj: JSON) -> None:
        # The launcher Job is controlled by the MPIJob; pods carry the job-name label (launcher pods too).
        meta = obj.get("metadata") or {}
        ref = names.controller_reference(obj)
        job_name = ref.get("name") if ref and ref.get("kind") == KIND else (meta.get("labels") or {}).get(
            JOB_NAME_LABEL)
        if job_name:
            self._enqueue(f"{meta.get('namespace')}/{job_name}")

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            self.pending.discard(key)
            try:
                await self._sync(key)
            except Exception as exc:  # a floor never retries; make the failure visible to the benchmark
                print(f"floor: {key}: {exc!r}", file=sys.stderr, flush=True)

    async def _sync(self, key: str) -> None:
        stage = self.stage.get(key)
        if stage is None:
            self.stage[key] = "creating"
            await self._create_children(key)
            self.stage[key] = "created"
        elif stage == "created" and self.lifecycle and self._all_running(key):
            self.stage[key] = "running"
            await self._mark_running(key)
        elif stage in ("created", "running") and self.lifecycle and self._launcher_succeeded(key):
            self.stage[key] = "succeeded"
            await self._mark_succeeded(key)

    async def _create_children(self, key: str) -> None:
        obj = self.mpijobs.store.get(key)
        assert obj is not None
        parsed, _errors = parse_mpijob(obj)
        assert parsed is not None
        job = apply_defaults(parsed)
        self.parsed[key] = job
        launcher_job = launcher.desired_launcher_job(job, self.options).job
        # The operator's launcher finalizer (decisions Q31) guards results against TTL deletion; a floor needs
        # no guard, so it also saves the patch that releases it.
        launcher_job["metadata"].pop("finalizers", None)
        children = [
            (SERVICES, service.desired_service(job)),
            (CONFIGMAPS, configmap.desired_configmap(job, self.options, [])),
            (SECRETS, ssh.desired_secret(job, ssh.generate_ssh_key_pair())),
            *[(PODS, worker.desired_worker_pod(job, i, self.options)) for i in range(spec.worker_replicas(job))],
            (JOBS, launcher_job),
        ]
        await asyncio.gather(*[self.client.resource(rtype).create(body) for rtype, body in children])
        self.conditions[key] = [_condition("Created", "MPIJobCreated", f"MPIJob {key} is created.")]
        status = {"conditions": self.conditions[key], "startTime": _now(),
                  "replicaStatuses": {"Launcher": {}, "Worker": {}}}
        await self.client.resource(MPIJOBS).patch_status(job.name, {"status": status}, job.namespace)

    def _workers(self, job: MPIJob) -> list[JSON]:
        return worker.owned_workers(job, self.pods.store.by_controller(names.job_uid(job)))

    def _all_running(self, key: str) -> bool:
        job = self.parsed[key]
        workers = self._workers(job)
        launcher_job = self.jobs.store.get_by_name(job.namespace, names.launcher_name(job))
        if launcher_job is None or len(workers) < spec.worker_replicas(job):
            return False
        launcher_pods = self.pods.store.by_controller(str(launcher_job["metadata"]["uid"]))
        return (all(worker.pod_phase(p) == "Running" for p in workers)
                and any(worker.pod_phase(p) == "Running" for p in launcher_pods))

    def _launcher_succeeded(self, key: str) -> bool:
        job = self.parsed[key]
        launcher_job = self.jobs.store.get_by_name(job.namespace, names.launcher_name(job))
        return launcher_job is not None and launcher.is_launcher_succeeded(launcher_job)

    async def _mark_running(self, key: str) -> None:
        job = self.parsed[key]
        desired = configmap.desired_configmap(job, self.options, self._workers(job))
        await self.client.resource(CONFIGMAPS).patch(desired["metadata"]["name"], {"data": desired["data"]},
                                                     job.namespace)
        workers = spec.worker_replicas(job)
        self.conditions[key] = [*self.conditions[key],
                                _condition("Running", "MPIJobRunning", f"MPIJob {key} is running.")]
        status = {"conditions": self.conditions[key],
                  "replicaStatuses": {"Launcher": {"active": 1}, "Worker": {"active": workers}}}
        await self.client.resource(MPIJOBS).patch_status(job.name, {"status": status}, job.namespace)

    async def _mark_succeeded(self, key: str) -> None:
        job = self.parsed[key]
        pods = self.client.resource(PODS)
        await asyncio.gather(*[pods.delete(p["metadata"]["name"], job.namespace) for p in self._workers(job)])
        conditions = [c for c in self.conditions[key] if c["type"] != "Running"]
        conditions += [{**_condition("Running", "MPIJobRunning", f"MPIJob {key} is running."), "status": "False"},
                       _condition("Succeeded", "MPIJobSucceeded", f"MPIJob {key} successfully completed.")]
        status = {"conditions": conditions, "completionTime": _now(),
                  "replicaStatuses": {"Launcher": {"succeeded": 1}, "Worker": {}}}
        await self.client.resource(MPIJOBS).patch_status(job.name, {"status": status}, job.namespace)


async def _main(args: argparse.Namespace) -> None:
    configure_logging("text", "WARNING")
    cfg = await load_configuration(args.kubeconfig)
    client = Client(cfg, qps=1e9, burst=10**9, user_agent=FLOOR_USER_AGENT)
    try:
        await Floor(client, args.namespace, args.concurrency, args.lifecycle).run()
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpi_operator.bench.floor", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--concurrency", type=int, default=8, help="jobs handled at once")
    p.add_argument("--lifecycle", action="store_true", help="follow pods to Running and Succeeded")
    args = p.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
