"""mpi-operator: a Python reimplementation of the Kubeflow MPI Operator (MPIJob kubeflow.org/v2beta1)."""

__version__ = "0.1.0"
