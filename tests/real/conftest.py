"""Fixtures of the two-ground tier: every test runs on the sandbox and on a real control plane.

The real control plane is built from Go modules on first use (cached). Where it cannot be had (no Go),
its tests are skipped and the summary says so loudly; with `CI=true` that is a failure instead. When a
test failed, every component's log is kept under `.test-logs/` at the repository root.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mpi_operator.kube.client import Client
from tests.conftest import REPO
from tests.real.ground import Ground, OperatorProcess, real_unavailable
from tests.real.helpers import eventually, get

GROUNDS = ("sandbox", "real")
_skipped_real: list[str] = []
_failed = False
_namespaces = itertools.count()


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> None:
    global _failed
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        _failed = True


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped_real:
        terminalreporter.section("REAL TIERS SKIPPED", sep="!", red=True, bold=True)
        for reason in _skipped_real:
            terminalreporter.line(f"did not run: {reason}", red=True)


def require(what: str, reason: str | None) -> None:
    """Skip (loudly, in the summary) when `reason` says `what` cannot run here; under CI=true, fail."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires {what}: {reason}")
    if not any(r.startswith(what) for r in _skipped_real):
        _skipped_real.append(f"{what}: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def started_ground(name: str, tmp_path_factory: pytest.TempPathFactory, runtime: str = "simulated",
                   ) -> Iterator[Ground]:
    if name == "real":
        require("the real control plane", real_unavailable())
    started = Ground.start(name, tmp_path_factory.mktemp(f"ground-{name}-{runtime}"), runtime)
    try:
        yield started
    finally:
        started.stop()
        if _failed:
            kept = started.keep_logs(REPO / ".test-logs" / runtime)
            print(f"\n{name} ground ({runtime} runtime): logs kept in {kept}")


@pytest.fixture(scope="session", params=GROUNDS)
def ground(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ground]:
    yield from started_ground(str(request.param), tmp_path_factory)


@pytest.fixture(scope="module")
def operator(ground: Ground) -> Iterator[OperatorProcess]:
    op = ground.operator().wait_ready()
    yield op
    op.stop()


@pytest_asyncio.fixture
async def api(ground: Ground) -> AsyncIterator[Client]:
    client = await Client.connect(str(ground.kubeconfig), qps=200, burst=400)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def namespace(api: Client, ground: Ground) -> str:
    """A fresh namespace; on the real ground once its `default` ServiceAccount exists (pods need it)."""
    name = f"t-{os.getpid()}-{next(_namespaces)}"
    await api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": name}})
    if ground.real:
        await eventually(lambda: get(api, f"/api/v1/namespaces/{name}/serviceaccounts/default"), 30,
                         f"ServiceAccount {name}/default")
    return name


def logs_dir() -> Path:
    return REPO / ".test-logs"
