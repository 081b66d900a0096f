"""The process runtime: pods as network namespaces on a bridge of the runtime's own, containers as real
processes in their own mount, UTS, IPC and PID namespaces, images from one mapping file (images.yaml).
Needs root and Linux namespaces; `unavailable_reason()` says when it cannot run, so callers fall back to
the simulated runtime. docs/node-agent.md describes it.
"""

from mpi_operator.nodeagent.process.availability import unavailable_reason
from mpi_operator.nodeagent.process.process_runtime import ProcessRuntime, ProcessSandbox

__all__ = ["ProcessRuntime", "ProcessSandbox", "unavailable_reason"]
