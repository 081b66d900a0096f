"""What a simulated pod does: the `sandbox.mpi-operator/` pod annotations and the default run of a pod.

One documented set (docs/sandbox-simulation.md, "What a pod does"), read by this simulated kubelet and, with
the same names and meanings, by the node agent's simulated runtime (`mpi_operator/nodeagent/simulated.py`,
which cannot import the sandbox); `tests/sandbox_sim/test_kubelet_parity.py` runs the same annotated pods on
both and expects the same ends.
"""

from __future__ import annotations

import math
from typing import Any

PREFIX = "sandbox.mpi-operator/"
EXIT_CODE = PREFIX + "exit-code"              # int: exit code of every container when it ends (default 0)
RUN_SECONDS = PREFIX + "run-seconds"          # float: running time before exit; "inf"/"forever"/"-1": never exits
FAILURES = PREFIX + "failures"                # int N: the first N runs (per controlling owner, else per pod) fail
START_SECONDS = PREFIX + "start-seconds"      # float: delay from binding to Running (ContainerCreating meanwhile)
READY_SECONDS = PREFIX + "ready-seconds"      # float: delay from Running to Ready; "inf": never ready
UNSCHEDULABLE = PREFIX + "unschedulable"      # "true": never bound (PodScheduled=False, Unschedulable)
EVICT_AFTER = PREFIX + "evict-after-seconds"  # float: node-pressure eviction this long after starting
TERMINATION_SECONDS = PREFIX + "termination-seconds"  # float: time to stop on SIGTERM; past the grace: SIGKILL
LOGS = PREFIX + "logs"                        # text: what `kubectl logs` prints (default: a line about the run)
ANNOTATIONS = (EXIT_CODE, RUN_SECONDS, FAILURES, START_SECONDS, READY_SECONDS, UNSCHEDULABLE, EVICT_AFTER,
               TERMINATION_SECONDS, LOGS)

# The role label the operator puts on MPI worker pods (Kubeflow's training label): such pods run until deleted.
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"


def seconds(text: str | None, default: float) -> float:
    """An annotation's duration: `inf`/`forever`/`never`/`-1` are infinite, negatives 0; garbage gives the default."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("inf", "forever", "never", "-1"):
        return math.inf
    try:
        return max(float(value), 0.0)
    except ValueError:
        return default


def integer(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def is_long_running(pod: dict[str, Any]) -> bool:
    """Pods that serve until deleted by default: MPI workers (sshd or role label) and restartPolicy Always."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    if (meta.get("labels") or {}).get(JOB_ROLE_LABEL) == "worker":
        return True
    if spec.get("restartPolicy", "Always") == "Always":
        return True
    for c in spec.get("containers") or []:
        if any("sshd" in str(word) for word in (c.get("command") or []) + (c.get("args") or [])[:1]):
            return True
    return False
