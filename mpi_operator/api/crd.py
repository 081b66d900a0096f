"""The MPIJob CustomResourceDefinition, generated from the API models."""

from __future__ import annotations


def crd_yaml() -> str:
    raise NotImplementedError("CRD generation is not built yet")
