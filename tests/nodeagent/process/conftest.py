"""Fixtures for the process runtime's tests: a runtime per test, closed afterwards and checked for
leftovers. Tests that need real namespaces skip, saying why, where the machine cannot run the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mpi_operator.nodeagent.process import ProcessRuntime, unavailable_reason
from tests.nodeagent.process.leftovers import runtime_leftovers

REASON = unavailable_reason()
needs_process_runtime = pytest.mark.skipif(REASON is not None, reason=f"process runtime unavailable: {REASON}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REASON is not None:
        terminalreporter.write_line(f"process runtime tests skipped: {REASON}", yellow=True)


@pytest.fixture
async def runtime() -> AsyncIterator[ProcessRuntime]:
    if REASON is not None:
        pytest.skip(f"process runtime unavailable: {REASON}")
    process_runtime = ProcessRuntime()
    try:
        yield process_runtime
    finally:
        namespaces = {c.pid_namespace for box in process_runtime.sandboxes() for c in box.containers}
        await process_runtime.close()
        leftovers = runtime_leftovers(process_runtime, namespaces - {""})
        assert not leftovers, f"left behind by close(): {leftovers}"
