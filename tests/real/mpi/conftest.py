"""The real-MPI tier: the same two grounds, but the node agent runs every container as real processes
(sshd, mpirun, the pi program) in the pod's own namespaces, so OpenSSH and MPI judge what the operator
generates. Needs root and Linux namespaces; skipped loudly without them, required under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.real.conftest import GROUNDS, require, started_ground
from tests.real.ground import Ground


def _process_unavailable() -> str | None:
    from mpi_operator.nodeagent.process import unavailable_reason

    return unavailable_reason()


@pytest.fixture(scope="session", params=GROUNDS)
def ground(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ground]:
    require("the process runtime (real MPI)", _process_unavailable())
    yield from started_ground(str(request.param), tmp_path_factory, runtime="process")
