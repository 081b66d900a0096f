"""Event message texts (§6.1, docs/decisions.md Q14)."""

from __future__ import annotations

from mpi_operator.controller.reasons import (
    launcher_create_failed_message,
    resource_exists_message,
    worker_create_failed_message,
)


def test_messages() -> None:
    assert resource_exists_message("demo-config", "ConfigMap") == (
        'Resource "demo-config" of Kind "ConfigMap" already exists and is not managed by MPIJob'
    )
    assert launcher_create_failed_message("boom") == "launcher pod created failed: boom"
    assert worker_create_failed_message("boom") == "worker pod created failed: boom"
