"""Event reasons and messages, and the condition the reconciler adds, outside the status computation (§6.1);
the reasons of status transitions (MPIJobCreated, MPIJobRunning, ...) are in `status.py`.

Invariant: texts are upstream's so tooling that matches on them keeps working; kinds are real (docs/decisions.md
Q14), never the empty TypeMeta kind upstream prints. The ValidationError message is
mpi_operator.api.validation.validation_message.
"""

from __future__ import annotations

NORMAL = "Normal"
WARNING = "Warning"

# Event and condition (`ValidationFailed`) reason of an invalid spec (docs/decisions.md Q2).
REASON_VALIDATION_ERROR = "ValidationError"
REASON_RESOURCE_EXISTS = "ErrResourceExists"
REASON_CREATE_FAILED = "MPIJobFailed"
REASON_WORKER_WITHOUT_INDEX = "WorkerWithoutIndex"
# Once per launcher Job creation (docs/decisions.md Q41).
REASON_RESTART_POLICY_OVERRIDDEN = "SetPodTemplateRestartPolicy"
MESSAGE_RESTART_POLICY_OVERRIDDEN = "Restart policy in pod template overridden by restart policy in replica spec"

# docs/decisions.md Q13: a condition (and a Warning of the same reason) while the running launcher Job was built from an
# older Launcher template.
CONDITION_TEMPLATE_CHANGE_DEFERRED = "LauncherTemplateChangeDeferred"
REASON_TEMPLATE_CHANGE_DEFERRED = "LauncherTemplateChangeDeferred"
MESSAGE_TEMPLATE_CHANGE_DEFERRED = ("The Launcher template changed while the launcher is running; the change "
                                    "applies to the next run of this MPIJob")


def resource_exists_message(name: str, kind: str) -> str:
    return f'Resource "{name}" of Kind "{kind}" already exists and is not managed by MPIJob'


def launcher_create_failed_message(error: object) -> str:
    return f"launcher pod created failed: {error}"


def worker_create_failed_message(error: object) -> str:
    return f"worker pod created failed: {error}"


def worker_without_index_message(pod_name: str, label: str) -> str:
    return f"Worker pod {pod_name} has no {label} label; left alone"
