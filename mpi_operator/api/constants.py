"""Names and values of the MPIJob API and of the objects the operator creates, in one place.

Values are upstream's (kubeflow/mpi-operator v0.8.2) so existing tooling keeps working.
"""

from enum import StrEnum

GROUP = "kubeflow.org"
VERSION = "v2beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "MPIJob"
LIST_KIND = "MPIJobList"
PLURAL = "mpijobs"
SINGULAR = "mpijob"
SHORT_NAMES = ["mpij"]
CRD_NAME = f"{PLURAL}.{GROUP}"

OPERATOR_NAME = "mpi-operator"
CONTROLLER_NAME = "mpi-job-controller"

# Labels put on every pod the operator creates.
OPERATOR_NAME_LABEL = "training.kubeflow.org/operator-name"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
APP_LABEL = "app"

# managedBy values.
MANAGED_BY_THIS_OPERATOR = "kubeflow.org/mpi-operator"
MANAGED_BY_MULTIKUEUE = "kueue.x-k8s.io/multikueue"
RESERVED_MANAGED_BY = (MANAGED_BY_THIS_OPERATOR, MANAGED_BY_MULTIKUEUE)

DEFAULT_SSH_AUTH_MOUNT_PATH = "/root/.ssh"
DEFAULT_SLOTS_PER_WORKER = 1

MESSAGE_SIZE_LIMIT = 1024


class ReplicaType(StrEnum):
    LAUNCHER = "Launcher"
    WORKER = "Worker"


class CleanPodPolicy(StrEnum):
    NONE = "None"
    RUNNING = "Running"
    ALL = "All"


class MPIImplementation(StrEnum):
    OPENMPI = "OpenMPI"
    INTEL = "Intel"
    MPICH = "MPICH"


class LauncherCreationPolicy(StrEnum):
    AT_STARTUP = "AtStartup"
    WAIT_FOR_WORKERS_READY = "WaitForWorkersReady"


class RestartPolicy(StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"
    EXIT_CODE = "ExitCode"


# The restart policies a launcher Job and worker pods can actually take.
SUPPORTED_RESTART_POLICIES = (RestartPolicy.NEVER, RestartPolicy.ON_FAILURE)


class JobConditionType(StrEnum):
    CREATED = "Created"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    SUSPENDED = "Suspended"
    FAILED = "Failed"
    # Ours, not upstream's (upstream #604): True while the spec fails validation, removed once it is fixed.
    VALIDATION_FAILED = "ValidationFailed"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"
