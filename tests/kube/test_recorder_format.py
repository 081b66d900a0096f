"""Event recorder pieces that need no server: truncation and the involved-object reference."""

from __future__ import annotations

from mpi_operator.kube.recorder import involved_object, truncate_message


def test_messages_are_cut_at_1024_bytes_without_splitting_characters() -> None:
    assert truncate_message("short") == "short"
    cut = truncate_message("é" * 1000)
    assert len(cut.encode()) <= 1024 and cut == "é" * 512
    assert len(truncate_message("x" * 5000).encode()) == 1024


def test_involved_object_reference() -> None:
    obj = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
           "metadata": {"name": "pi", "namespace": "default", "uid": "u1", "resourceVersion": "7"}}
    assert involved_object(obj) == {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": "pi",
                                    "namespace": "default", "uid": "u1", "resourceVersion": "7"}
