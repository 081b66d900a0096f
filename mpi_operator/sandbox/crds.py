"""CRDs the sandbox can install at start: the project's MPIJob CRD and the gang schedulers' PodGroup CRDs.

The MPIJob CRD is the file that ships (`manifests/base/kubeflow.org_mpijobs.yaml`), packaged here as
`manifests/kubeflow.org_mpijobs.yaml` by `make manifests`: the sandbox reads what users install, not the
operator's code that generates it. PodGroup CRDs are minimal schemas that preserve unknown fields: enough to
create, list and watch them like the real ones.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson
import yaml

MPIJOB_CRD_FILE = "kubeflow.org_mpijobs.yaml"

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


@functools.cache
def _mpijob_crd_json() -> bytes:
    # Parsed once per process (220 KB of YAML: ~70 ms with libyaml, ~270 ms without); kept as JSON bytes so that
    # every caller gets a fresh copy cheaply.
    text = (resources.files("mpi_operator.sandbox") / "manifests" / MPIJOB_CRD_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return orjson.dumps(yaml.load(text, Loader=loader))


def mpijob_crd() -> dict[str, Any]:
    """The MPIJob CRD as shipped (a fresh dict on every call)."""
    crd: dict[str, Any] = orjson.loads(_mpijob_crd_json())
    return crd


def volcano_podgroup_crd() -> dict[str, Any]:
    return _crd("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", ["pg", "podgroup-v1beta1"], [
        {"name": "STATUS", "type": "string", "jsonPath": ".status.phase"},
        {"name": "MINMEMBER", "type": "integer", "jsonPath": ".spec.minMember"},
        {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


def scheduler_plugins_podgroup_crd() -> dict[str, Any]:
    return _crd("scheduling.x-k8s.io", "v1alpha1", "podgroups", "PodGroup", ["pg", "pgs"])


GANG_CRDS = {"volcano": volcano_podgroup_crd, "scheduler-plugins": scheduler_plugins_podgroup_crd}
