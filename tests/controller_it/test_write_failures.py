"""Failed writes: a worker or launcher create the API server rejects gives the upstream Warning `MPIJobFailed`
and a retry that succeeds once the server accepts again; a failed launcher update on resume is retried."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import pytest_asyncio

from tests.controller_it.cluster_stand_in import JOBS, events, live
from tests.controller_it.conftest import MPIJOBS, Env, example, running_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: Any) -> AsyncIterator[Env]:
    # Its own sandbox: faults apply to every namespace.
    async with running_env(tmp_path_factory.mktemp("kube") / "config") as started:
        yield started


@contextmanager
def rejecting(env: Env, verbs: set[str], resource: str) -> Iterator[None]:
    """The API server answers these requests 403 (as a quota would) until the block ends."""
    env.sb.faults.error_rate, env.sb.faults.error_code = 1.0, 403
    env.sb.faults.verbs, env.sb.faults.resources = verbs, {resource}
    try:
        yield
    finally:
        env.sb.faults.error_rate, env.sb.faults.verbs, env.sb.faults.resources = 0.0, set(), set()


async def test_rejected_worker_create_warns_and_is_retried(env: Env) -> None:
    ns = env.namespace()
    with rejecting(env, {"create"}, "pods"):
        env.sb.store.create(MPIJOBS, ns, example("pi.yaml"))
        warning = await env.eventually(lambda: events(env, ns, "MPIJobFailed"), what="MPIJobFailed event")
        assert warning[0]["type"] == "Warning"
        assert warning[0]["message"].startswith("worker pod created failed: ")
        assert env.get(JOBS, ns, "pi-launcher") is None
    await env.eventually(lambda: live(env, ns, "pi-worker-1") and env.get(JOBS, ns, "pi-launcher"),
                         what="workers and launcher after the fault")


async def test_rejected_launcher_create_warns_and_is_retried(env: Env) -> None:
    ns = env.namespace()
    with rejecting(env, {"create"}, "jobs.batch"):
        env.sb.store.create(MPIJOBS, ns, example("pi.yaml"))
        warning = await env.eventually(lambda: events(env, ns, "MPIJobFailed"), what="MPIJobFailed event")
        assert warning[0]["message"].startswith("launcher pod created failed: ")
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher after the fault")


async def test_rejected_launcher_resume_is_retried(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["suspend"] = True
    env.sb.store.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="suspended launcher")
    await env.settled()
    with rejecting(env, {"update", "patch"}, "jobs.batch"):
        env.sb.store.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": False}}})
        await env.eventually(lambda: live(env, ns, "pi-worker-1"), what="workers on resume")
        await env.eventually(lambda: env.sb.requests.count(verb="update", resource="jobs.batch", namespace=ns)
                             + env.sb.requests.count(verb="patch", resource="jobs.batch", namespace=ns) >= 2,
                             what="rejected launcher updates")
        launcher = env.get(JOBS, ns, "pi-launcher")
        assert launcher is not None and launcher["spec"]["suspend"] is True
    await env.eventually(lambda: (env.get(JOBS, ns, "pi-launcher") or {}).get("spec", {}).get("suspend") is False,
                         what="launcher resumed after the fault")
