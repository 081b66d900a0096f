"""Watch responses cut at arbitrary byte offsets (mid-line, cleanly or by a dropped connection) while pods are
created, changed and deleted: the informer's store always catches up to exactly the server's state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import Configuration

from mpi_operator.kube.client import Client
from mpi_operator.kube.informer import Informer
from mpi_operator.kube.ratelimit import Backoff
from mpi_operator.kube.resource import PODS
from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.errors import ApiError
from tests.fuzz.truncating_proxy import TruncatingProxy

pytestmark = pytest.mark.asyncio(loop_scope="module")
NAMESPACE = "fz"
POOL = [f"p{i}" for i in range(6)]


@dataclass
class Rig:
    sb: Sandbox
    proxy: TruncatingProxy
    informer: Informer


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig() -> AsyncIterator[Rig]:
    async with Sandbox(port=0) as sb:
        sb.store.create("namespaces", None, {"metadata": {"name": NAMESPACE}})
        proxy = TruncatingProxy(sb.url)
        await proxy.start()
        cfg = Configuration()
        cfg.host = proxy.url
        client = Client(cfg, qps=1000, burst=1000)
        informer = Informer(client.resource(PODS), namespace=NAMESPACE, backoff=Backoff(base=0.01, cap=0.1))
        informer.start()
        try:
            assert await informer.wait_for_sync(10)
            yield Rig(sb, proxy, informer)
        finally:
            await informer.stop()
            await client.close()
            await proxy.stop()


def apply(sb: Sandbox, op: str, name: str, value: int) -> None:
    try:
        if op == "create":
            sb.store.create("pods", NAMESPACE, {"metadata": {"name": name, "labels": {"v": str(value)}},
                                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        elif op == "label":
            sb.store.patch("pods", NAMESPACE, name, "merge", {"metadata": {"labels": {"v": str(value)}}})
        else:
            sb.store.delete("pods", NAMESPACE, name, {"gracePeriodSeconds": 0})
    except ApiError:
        pass  # exists already / not there: the server state is what it is, the informer must match it


def server_state(sb: Sandbox) -> dict[str, str]:
    return {f"{NAMESPACE}/{p['metadata']['name']}": p["metadata"]["resourceVersion"]
            for p in sb.store.iter_objects("pods", NAMESPACE)}


def cache_state(informer: Informer) -> dict[str, str]:
    return {key: obj["metadata"]["resourceVersion"] for key, obj in informer.store.snapshot().items()}


ops = st.tuples(st.sampled_from(["create", "label", "delete"]), st.sampled_from(POOL), st.integers(0, 9))
cuts = st.tuples(st.integers(1, 1500), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ops, min_size=1, max_size=15), st.lists(cuts, min_size=1, max_size=6))
async def test_informer_matches_the_server_after_watches_cut_mid_line(
        rig: Rig, changes: list[tuple[str, str, int]], plan: list[tuple[int, bool]]) -> None:
    rig.proxy.cuts.extend(plan)
    for op, name, value in changes:
        apply(rig.sb, op, name, value)
        await asyncio.sleep(0.005)  # let some events reach the stream between changes
    deadline = time.monotonic() + 10
    while cache_state(rig.informer) != server_state(rig.sb):
        assert time.monotonic() < deadline, (cache_state(rig.informer), server_state(rig.sb))
        await asyncio.sleep(0.01)
    rig.proxy.cuts.clear()


async def test_the_cuts_really_happened(rig: Rig) -> None:
    # Guards the fuzz test above against passing because nothing was ever cut.
    print(f"watches={rig.proxy.watches} cut={rig.proxy.cut_watches} relists={rig.informer.relists}")
    assert rig.proxy.cut_watches > 0 and rig.proxy.watches > rig.proxy.cut_watches / 2
