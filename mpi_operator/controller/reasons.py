"""Event reasons and messages the reconciler emits outside the status computation (§6.1).

Invariant: texts are upstream's so tooling that matches on them keeps working; kinds are real (decisions
Q14), never the empty TypeMeta kind upstream prints. The ValidationError message is
mpi_operator.api.validation.validation_message.
"""

from __future__ import annotations

NORMAL = "Normal"
WARNING = "Warning"

REASON_VALIDATION_ERROR = "ValidationError"
REASON_RESOURCE_EXISTS = "ErrResourceExists"
REASON_CREATE_FAILED = "MPIJobFailed"


def resource_exists_message(name: str, kind: str) -> str:
    return f'Resource "{name}" of Kind "{kind}" already exists and is not managed by MPIJob'


def launcher_create_failed_message(error: object) -> str:
    return f"launcher pod created failed: {error}"


def worker_create_failed_message(error: object) -> str:
    return f"worker pod created failed: {error}"
