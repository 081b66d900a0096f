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
        terminalreporter.section("REAL CONTROL PLANE SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(f"the real-control-plane tier did not run: {_skipped_real[0]}", red=True)


@pytest.fixture(scope="session", params=GROUNDS)
def ground(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ground]:
    name = str(request.param)
    if name == "real":
        reason = real_unavailable()
        if reason is not None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true requires the real control plane: {reason}")
            _skipped_real.append(reason)
            pytest.skip(f"real control plane unavailable: {reason}")
    started = Ground.start(name, tmp_path_factory.mktemp(f"ground-{name}"))
    try:
        yield started
    finally:
        started.stop()
        if _failed:
            kept = started.keep_logs(REPO / ".test-logs")
            print(f"\n{name} ground: logs kept in {kept}")


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
