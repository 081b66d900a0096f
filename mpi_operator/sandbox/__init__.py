"""An in-memory Kubernetes API server and simulated cluster. Imports nothing of the operator but its CRD.

Entry points: `Sandbox` (async context manager), `Store` (in-process API used by simulators), `Faults`.
"""

from mpi_operator.sandbox.sandbox import Sandbox

__all__ = ["Sandbox"]
