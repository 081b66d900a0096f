"""Fixtures of the chart tests: real helm (built from its Go module on first use, cached), or a loud skip.

Without Go (and without HELM_BIN) every chart test is skipped and the summary says so; with `CI=true` that
is a failure instead. `tests/real/test_helm.py` uses the same helm on the real control plane.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helm.helm import SKIPPED, Helm, require


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SKIPPED:
        terminalreporter.section("HELM CHART TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(f"the Helm chart tests did not run: {SKIPPED[0]}", red=True)


@pytest.fixture(scope="module")
def helm() -> Iterator[Helm]:
    require()
    client = Helm()
    yield client
    client.close()
