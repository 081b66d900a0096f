"""Event message texts (§6.1, §5.6 truncation, decisions Q14)."""

from __future__ import annotations

from mpi_operator.controller.events import (
    launcher_create_failed_message,
    resource_exists_message,
    truncate,
    validation_error_message,
    worker_create_failed_message,
)


def test_truncation_is_byte_based() -> None:
    assert truncate("a" * 1024) == "a" * 1024
    assert truncate("a" * 1025) == "a" * 1021 + "..."
    assert len(truncate("é" * 600).encode()) <= 1024


def test_validation_message_is_prefixed_and_capped() -> None:
    assert validation_error_message("spec.x: Required value") == "Found validation errors: spec.x: Required value"
    assert len(validation_error_message("e" * 5000).encode()) == 1024


def test_messages() -> None:
    assert resource_exists_message("demo-config", "ConfigMap") == (
        'Resource "demo-config" of Kind "ConfigMap" already exists and is not managed by MPIJob'
    )
    assert launcher_create_failed_message("boom") == "launcher pod created failed: boom"
    assert worker_create_failed_message("boom") == "worker pod created failed: boom"
