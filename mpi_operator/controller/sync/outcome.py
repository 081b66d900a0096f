"""How a sync step ends: it goes on (None), it stops the sync with a `Result` for the workqueue (done, or
requeue), or it fails with a `StepFailed` that names the step, as upstream wraps each error.

Invariant: "try again" is a value (`requeue`), never an exception; exceptions are failures, and each one that
leaves a sync says which step it came from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mpi_operator.kube.workqueue import DONE, Result, requeue

__all__ = ["DONE", "ResourceConflict", "Result", "StepFailed", "requeue", "step"]


class ResourceConflict(Exception):
    """A child object of the expected name exists but is not controlled by this MPIJob."""


class StepFailed(Exception):
    """A sync step failed; `cause` is why. The message reads `<step>: <cause>`."""

    def __init__(self, step: str, cause: Exception) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Name the step any failure inside comes from (the innermost name wins)."""
    try:
        yield
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(name, exc) from exc
