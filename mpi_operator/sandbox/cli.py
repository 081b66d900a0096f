"""`mpi-operator sandbox`: run the in-memory API server until interrupted."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    print("mpi-operator sandbox: not built yet", file=sys.stderr)
    return 2
