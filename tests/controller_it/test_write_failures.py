"""Failed writes: a worker or launcher create the API server rejects gives the upstream Warning `MPIJobFailed`
and a retry that succeeds once the server accepts again; a failed launcher update on resume is retried."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import pytest_asyncio

from tests.controller_it.cluster import JOBS, condition, counter, events, live, mpijob
from tests.controller_it.conftest import MPIJOBS, Env, example, running_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: Any) -> AsyncIterator[Env]:
    # Its own sandbox: faults apply to every namespace.
    async with running_env(tmp_path_factory.mktemp("api")) as started:
        yield started


@contextmanager
def rejecting(env: Env, verbs: set[str], resource: str) -> Iterator[None]:
    """The API server answers these requests 403 (as a quota would) until the block ends."""
    env.faults.error_rate, env.faults.error_code = 1.0, 403
    env.faults.verbs, env.faults.resources = verbs, {resource}
    try:
        yield
    finally:
        env.faults.error_rate, env.faults.verbs, env.faults.resources = 0.0, set(), set()


async def test_rejected_worker_create_warns_and_is_retried(env: Env) -> None:
    ns = env.namespace()
    with rejecting(env, {"create"}, "pods"):
        env.create(MPIJOBS, ns, example("pi.yaml"))
        warning = await env.eventually(lambda: events(env, ns, "MPIJobFailed"), what="MPIJobFailed event")
        assert warning[0]["type"] == "Warning"
        assert warning[0]["message"].startswith("worker pod created failed: ")
        assert env.get(JOBS, ns, "pi-launcher") is None
    await env.eventually(lambda: live(env, ns, "pi-worker-1") and env.get(JOBS, ns, "pi-launcher"),
                         what="workers and launcher after the fault")


async def test_rejected_launcher_create_warns_and_is_retried(env: Env) -> None:
    ns = env.namespace()
    with rejecting(env, {"create"}, "jobs.batch"):
        env.create(MPIJOBS, ns, example("pi.yaml"))
        warning = await env.eventually(lambda: events(env, ns, "MPIJobFailed"), what="MPIJobFailed event")
        assert warning[0]["message"].startswith("launcher pod created failed: ")
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher after the fault")


async def test_rejected_launcher_resume_is_retried(env: Env) -> None:
    ns = env.namespace()
    job = copy.deepcopy(example("pi.yaml"))
    job["spec"]["runPolicy"]["suspend"] = True
    env.create(MPIJOBS, ns, job)
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="suspended launcher")
    await env.settled()
    with rejecting(env, {"update", "patch"}, "jobs.batch"):
        env.patch(MPIJOBS, ns, "pi", "merge", {"spec": {"runPolicy": {"suspend": False}}})
        await env.eventually(lambda: live(env, ns, "pi-worker-1"), what="workers on resume")
        await env.eventually(lambda: env.requests.count(verb="update", resource="jobs.batch", namespace=ns)
                             + env.requests.count(verb="patch", resource="jobs.batch", namespace=ns) >= 2,
                             what="rejected launcher updates")
        launcher = env.get(JOBS, ns, "pi-launcher")
        assert launcher is not None and launcher["spec"]["suspend"] is True
    await env.eventually(lambda: (env.get(JOBS, ns, "pi-launcher") or {}).get("spec", {}).get("suspend") is False,
                         what="launcher resumed after the fault")


async def test_rejected_status_writes_emit_no_event_until_one_succeeds(env: Env) -> None:
    """docs/decisions.md Q17: Events and counters follow the status write that records the transition."""
    ns = env.namespace()
    created_before = counter(env, "jobs_created")
    with rejecting(env, {"patch", "update"}, MPIJOBS):
        env.create(MPIJOBS, ns, example("pi.yaml"))
        await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
        await env.eventually(lambda: env.requests.count(verb="patch", resource=f"{MPIJOBS}/status",
                                                           namespace=ns) >= 2, what="rejected status writes")
        assert events(env, ns, "MPIJobCreated") == []
        assert counter(env, "jobs_created") == created_before
    await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Created"), what="Created after the fault")
    await env.settled()
    assert [e.get("count", 1) for e in events(env, ns, "MPIJobCreated")] == [1]
    assert counter(env, "jobs_created") == created_before + 1
