"""Running=True once the launcher pod and every worker run (one Normal event per transition), and an
evicted worker fails the job for good (docs/decisions.md Q21: terminal, cleanPodPolicy applied, launcher suspended)."""

from __future__ import annotations

import pytest

from tests.controller_it.cluster import (
    JOBS,
    complete_launcher,
    condition,
    events,
    mpijob,
    replica_status,
    running_pi,
    set_pod_phase,
    set_pod_running,
    start_launcher,
)
from tests.controller_it.conftest import MPIJOBS, Env, example

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_running_condition_needs_the_launcher_pod_and_all_workers_running(env: Env) -> None:
    ns = env.namespace()
    env.create(MPIJOBS, ns, example("pi.yaml"))
    await env.eventually(lambda: env.get(JOBS, ns, "pi-launcher"), what="launcher Job")
    set_pod_running(env, ns, "pi-worker-0")
    start_launcher(env, ns, "pi-launcher")
    await env.eventually(lambda: replica_status(env, ns, "pi", "Launcher") == {"active": 1}, what="launcher active")
    await env.settled()
    assert condition(mpijob(env, ns, "pi"), "Running") is None  # worker-1 still Pending

    set_pod_running(env, ns, "pi-worker-1")
    running = await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Running"), what="Running condition")
    assert (running["status"], running["reason"]) == ("True", "MPIJobRunning")
    assert running["message"] == f"MPIJob {ns}/pi is running."
    assert replica_status(env, ns, "pi", "Worker") == {"active": 2}

    # More syncs in the Running state (a label touch) emit no second Event (docs/decisions.md Q18).
    env.patch(MPIJOBS, ns, "pi", "merge", {"metadata": {"labels": {"touched": "yes"}}})
    await env.settled()
    emitted = events(env, ns, "MPIJobRunning")
    assert len(emitted) == 1 and emitted[0]["type"] == "Normal" and emitted[0].get("count", 1) == 1
    assert emitted[0]["message"] == f"MPIJob {ns}/pi is running"


async def test_evicted_worker_fails_the_job_for_good(env: Env) -> None:
    ns = await running_pi(env)
    set_pod_phase(env, ns, "pi-worker-1", "Failed", reason="Evicted", message="The node was low on memory.")

    done = await env.eventually(lambda: condition(mpijob(env, ns, "pi"), "Failed") and mpijob(env, ns, "pi"),
                                what="Failed condition")
    failed = condition(done, "Failed")
    assert failed is not None and failed["status"] == "True"
    assert (failed["reason"], failed["message"]) == ("MPIJobEvicted", "1/2 workers are evicted")
    assert done["status"]["completionTime"]  # docs/decisions.md Q21: terminal
    running = condition(done, "Running")
    assert running is not None and running["status"] == "False"
    warning = await env.eventually(lambda: events(env, ns, "MPIJobEvicted"), what="MPIJobEvicted event")
    assert warning[0]["type"] == "Warning"

    # cleanPodPolicy Running: the running worker goes, the evicted one stays; the launcher Job is suspended.
    await env.eventually(lambda: (p := env.get("pods", ns, "pi-worker-0")) is None
                         or p["metadata"].get("deletionTimestamp"), what="running worker deleted")
    await env.eventually(lambda: (env.get(JOBS, ns, "pi-launcher") or {}).get("spec", {}).get("suspend") is True,
                         what="launcher suspended")
    await env.settled()
    evicted = env.get("pods", ns, "pi-worker-1")
    assert evicted is not None and not evicted["metadata"].get("deletionTimestamp")

    # A launcher that still reports success later does not turn the failed job into Succeeded.
    complete_launcher(env, ns, "pi-launcher")
    await env.settled()
    final = mpijob(env, ns, "pi")
    assert condition(final, "Succeeded") is None
    assert condition(final, "Failed") == failed
    assert len(events(env, ns, "MPIJobEvicted")) == 1
