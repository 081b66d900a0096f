"""CRDs the sandbox can install at start: the project's MPIJob CRD and the gang schedulers' PodGroup CRDs.

The MPIJob CRD comes from `mpi_operator.api.crd.crd_manifest()`; until that exists a permissive stand-in (same
names, status subresource, unknown fields preserved) keeps the sandbox usable. PodGroup CRDs are minimal schemas
that preserve unknown fields: enough to create, list and watch them like the real ones.
"""

from __future__ import annotations

from typing import Any

_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _crd(group: str, version: str, plural: str, kind: str, short: list[str],
         printer_columns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    v: dict[str, Any] = {"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                         "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                             "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                             "metadata": {"type": "object"}, "spec": _OPEN, "status": _OPEN}}}}
    if printer_columns:
        v["additionalPrinterColumns"] = printer_columns
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced", "versions": [v],
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
                               "shortNames": short}}}


def mpijob_crd() -> dict[str, Any]:
    from mpi_operator.api import crd as crd_module

    manifest = getattr(crd_module, "crd_manifest", None)
    if manifest is not None:
        try:
            return dict(manifest())
        except NotImplementedError:
            pass
    return _crd("kubeflow.org", "v2beta1", "mpijobs", "MPIJob", [])


def volcano_podgroup_crd() -> dict[str, Any]:
    return _crd("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", ["pg", "podgroup-v1beta1"], [
        {"name": "STATUS", "type": "string", "jsonPath": ".status.phase"},
        {"name": "MINMEMBER", "type": "integer", "jsonPath": ".spec.minMember"},
        {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


def scheduler_plugins_podgroup_crd() -> dict[str, Any]:
    return _crd("scheduling.x-k8s.io", "v1alpha1", "podgroups", "PodGroup", ["pg", "pgs"])


GANG_CRDS = {"volcano": volcano_podgroup_crd, "scheduler-plugins": scheduler_plugins_podgroup_crd}
