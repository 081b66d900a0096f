"""Leader election against the sandbox's Lease: one leader at a time, takeover after a crash within the lease
duration, quick handover on release, and stepping down at once when the lease is lost."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from mpi_operator.kube.client import Client
from mpi_operator.kube.leaderelection import LeaderElectionConfig, LeaderElector
from mpi_operator.kube.resource import LEASES
from mpi_operator.sandbox import Sandbox
from tests.kube.conftest import eventually, unique

# Short durations keep the tests fast; the ratios are the production ones' constraints.
LEASE, RENEW, RETRY = 1.5, 1.0, 0.2


class Candidate:
    """An elector whose leading work runs until cancelled, with a shared count of current leaders."""

    leaders = 0
    max_leaders = 0

    def __init__(self, kube: Client, lock: str, release: bool = True) -> None:
        self.leading = asyncio.Event()
        self.stopped = asyncio.Event()
        self.elector = LeaderElector(
            kube, LeaderElectionConfig("mpi-operator", lock, identity=unique("cand"), lease_duration=LEASE,
                                       renew_deadline=RENEW, retry_period=RETRY, release_on_cancel=release),
            on_started_leading=self._lead, on_stopped_leading=self.stopped.set)
        self.task = asyncio.create_task(self.elector.run())

    async def _lead(self) -> None:
        Candidate.leaders += 1
        Candidate.max_leaders = max(Candidate.max_leaders, Candidate.leaders)
        self.leading.set()
        try:
            await asyncio.Event().wait()
        finally:
            Candidate.leaders -= 1

    async def kill(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_only_one_of_two_candidates_leads(kube: Client) -> None:
    Candidate.leaders = Candidate.max_leaders = 0
    lock = unique("lock")
    a, b = Candidate(kube, lock), Candidate(kube, lock)
    try:
        done, _ = await asyncio.wait([asyncio.create_task(a.leading.wait()), asyncio.create_task(b.leading.wait())],
                                     timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert done
        leader, follower = (a, b) if a.leading.is_set() else (b, a)
        # Several renew cycles later the follower still follows and knows who leads.
        await eventually(lambda: follower.elector.observed_holder == leader.elector.identity)
        await asyncio.wait_for(asyncio.shield(asyncio.sleep(RETRY * 5)), RETRY * 10)
        assert not follower.leading.is_set() and Candidate.max_leaders == 1
        lease = await kube.resource(LEASES).get(lock, "mpi-operator")
        assert lease["spec"]["holderIdentity"] == leader.elector.identity
        assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    finally:
        await a.kill()
        await b.kill()


async def test_a_crashed_leader_is_replaced_within_the_lease_duration(kube: Client) -> None:
    Candidate.leaders = Candidate.max_leaders = 0
    lock = unique("lock")
    first = Candidate(kube, lock, release=False)  # killed without releasing, like SIGKILL
    await asyncio.wait_for(first.leading.wait(), 5)
    second = Candidate(kube, lock)
    try:
        await eventually(lambda: second.elector.observed_holder == first.elector.identity)
        killed_at = time.monotonic()
        await first.kill()
        await asyncio.wait_for(second.leading.wait(), 10)
        # leaseDurationSeconds is whole seconds (2 for 1.5) plus up to one jittered retry period.
        assert time.monotonic() - killed_at <= 2 + RETRY * 1.2 + 1.0
        lease = await kube.resource(LEASES).get(lock, "mpi-operator")
        assert lease["spec"]["holderIdentity"] == second.elector.identity
        assert lease["spec"]["leaseTransitions"] == 1
        assert Candidate.max_leaders == 1
    finally:
        await first.kill()
        await second.kill()


async def test_a_released_lease_is_taken_over_quickly(kube: Client) -> None:
    lock = unique("lock")
    first = Candidate(kube, lock, release=True)
    await asyncio.wait_for(first.leading.wait(), 5)
    second = Candidate(kube, lock)
    try:
        await eventually(lambda: second.elector.observed_holder == first.elector.identity)
        await first.kill()
        assert first.stopped.is_set()
        lease = await kube.resource(LEASES).get(lock, "mpi-operator")
        assert lease["spec"]["holderIdentity"] in ("", second.elector.identity)
        released_at = time.monotonic()
        await asyncio.wait_for(second.leading.wait(), 5)
        assert time.monotonic() - released_at <= 1 + RETRY * 1.2 + 1.0
    finally:
        await second.kill()


async def test_a_leader_that_loses_its_lease_stops_at_once(kube: Client) -> None:
    lock = unique("lock")
    cand = Candidate(kube, lock)
    await asyncio.wait_for(cand.leading.wait(), 5)
    leases = kube.resource(LEASES)
    lease = await leases.get(lock, "mpi-operator")
    lease["spec"]["holderIdentity"] = "intruder"
    lease["spec"]["leaseDurationSeconds"] = 60
    await leases.update(lease)
    await asyncio.wait_for(cand.stopped.wait(), RENEW + RETRY * 3 + 1)
    await asyncio.wait_for(cand.task, 2)  # run() returned: the caller exits or campaigns again
    assert not cand.elector.is_leader
    assert (await leases.get(lock, "mpi-operator"))["spec"]["holderIdentity"] == "intruder"


async def test_a_candidate_cancelled_while_its_lease_write_is_on_the_wire_releases_what_it_won(
        sandbox: Sandbox, kube: Client) -> None:
    # The create reaches the server and wins, but the candidate is cancelled (a stop signal) before the answer.
    lock = unique("lock")
    sandbox.faults.replace("reply_latency=0.5,verbs=create,resources=leases.coordination.k8s.io")
    cand = Candidate(kube, lock)
    try:
        await eventually(lambda: sandbox.store.find("leases.coordination.k8s.io", "mpi-operator", lock))
        await cand.kill()
    finally:
        sandbox.faults.replace("")
    assert not cand.leading.is_set()
    lease = await kube.resource(LEASES).get(lock, "mpi-operator")
    assert lease["spec"]["holderIdentity"] == "", "the lease it took on the wire is given back at once"


async def test_a_missing_lease_namespace_is_reported_once_and_clears_when_created(
        sandbox: Sandbox, kube: Client, caplog: pytest.LogCaptureFixture) -> None:
    namespace = unique("ns")
    elector = LeaderElector(kube, LeaderElectionConfig(namespace, "lock", lease_duration=LEASE,
                                                       renew_deadline=RENEW, retry_period=RETRY))
    task = asyncio.create_task(elector.run())
    try:
        await eventually(lambda: elector.problem)
        assert elector.problem == f'the lease namespace "{namespace}" does not exist'
        await eventually(lambda: sandbox.requests.count("create", "leases.coordination.k8s.io") >= 3)
        reports = [r for r in caplog.records if r.getMessage().startswith("leader election cannot proceed")]
        assert len(reports) == 1, "a lasting problem is logged once, not every retry period"
        sandbox.store.create("namespaces", None, {"metadata": {"name": namespace}})
        await eventually(lambda: elector.is_leader)
        assert elector.problem is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
