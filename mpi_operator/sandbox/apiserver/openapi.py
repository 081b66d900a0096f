"""A minimal OpenAPI v3 surface, just enough for kubectl's `--validate=strict` default (contract §1.5).

kubectl only checks that the PATCH operation of each kind declares the `fieldValidation` query parameter; it then
sends `fieldValidation=Strict` and relies on the server. Operations carry no `requestBody`, so kubectl falls back
to its compiled-in types for client-side apply patches.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mpi_operator.sandbox.apiserver.resources import Registry, ResourceInfo

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def index(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            p = _gv_path(group, version)
            doc_hash = hashlib.sha256(repr(sorted(i.key for i in registry.all() if i.group == group)).encode())
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={doc_hash.hexdigest()[:32].upper()}"}
    return {"paths": paths}


def _object_path(info: ResourceInfo) -> str:
    base = "/api/v1" if not info.group else f"/apis/{info.group}/{info.version}"
    ns = "/namespaces/{namespace}" if info.namespaced else ""
    return f"{base}{ns}/{info.plural}/{{name}}"


def document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    infos = [i for i in registry.all() if i.group == group and i.version == version]
    if not infos:
        return None
    paths: dict[str, Any] = {}
    for info in infos:
        gvk = {"group": info.group, "version": info.version, "kind": info.kind}
        op = {"operationId": f"patch{info.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk, "parameters": _PARAMS,
              "responses": {"200": {"description": "OK"}}}
        paths[_object_path(info)] = {"patch": op, "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"}, "paths": paths,
            "components": {"schemas": {}}}
