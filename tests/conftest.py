"""Shared test helpers: where the repository and the shared examples are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def examples_dir() -> Path:
    """The real MPIJob manifests that must run unchanged (../shared/examples), or the vendored copy."""
    for candidate in (REPO.parent / "shared" / "examples", REPO / "tests" / "data" / "examples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no examples directory")
