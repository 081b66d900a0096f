"""Prometheus metrics of the MPIJob controller: upstream's five (same names and help texts, so existing
dashboards keep working) plus reconcile and job-duration metrics named like controller-runtime's.

Invariant: counters move only after the status write that records the transition succeeded (docs/decisions.md Q17).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

CONTROLLER = "mpijob"


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.jobs_created = Counter("mpi_operator_jobs_created", "Counts number of MPI jobs created",
                                    registry=registry)
        self.jobs_successful = Counter("mpi_operator_jobs_successful", "Counts number of MPI jobs successful",
                                       registry=registry)
        self.jobs_failed = Counter("mpi_operator_jobs_failed", "Counts number of MPI jobs failed",
                                   registry=registry)
        self.job_info = Gauge("mpi_operator_job_info", "Information about MPIJob", ["launcher", "namespace"],
                              registry=registry)
        self.is_leader = Gauge("mpi_operator_is_leader",
                               "Is this client the leader of this mpi-operator client set?", registry=registry)
        self.reconcile_total = Counter("controller_runtime_reconcile", "Total number of reconciliations per "
                                       "controller", ["controller", "result"], registry=registry)
        self.reconcile_errors = Counter("controller_runtime_reconcile_errors", "Total number of reconciliation "
                                        "errors per controller", ["controller"], registry=registry)
        self.reconcile_time = Histogram("controller_runtime_reconcile_time_seconds", "Length of time per "
                                        "reconciliation per controller", ["controller"], registry=registry,
                                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                                 5, 10, 30, 60))
        self.job_duration = Histogram("mpi_operator_job_duration_seconds", "Time from an MPIJob's start to its "
                                      "completion", ["result"], registry=registry,
                                      buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400))
        self.time_to_running = Histogram("mpi_operator_job_time_to_running_seconds", "Time from an MPIJob's "
                                         "creation to its Running condition", registry=registry,
                                         buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800))
