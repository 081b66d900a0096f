"""The registry of served resources (built-ins plus one entry per served version of every installed CRD).

A `ResourceInfo` states everything the store and the HTTP layer need to know about a resource: its names, scope,
subresources and the per-type rules (generation tracking, unconditional update, default GC policy). The registry
also renders the legacy discovery documents from the current set, so installing a CRD is visible at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STANDARD_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "eviction": ["create"], "log": ["get"],
                     "binding": ["create"], "finalize": ["update"]}

# Field selectors each built-in resource supports besides metadata.name / metadata.namespace (contract §4.2).
POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
              "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName")
EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                "reason", "reportingComponent", "source", "type")


@dataclass(eq=False)
class ResourceInfo:
    """One served (group, version, resource). `key` identifies the storage shared by all versions."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    tracks_generation: bool = False
    unconditional_update: bool = True
    custom: bool = False
    orphan_by_default: bool = False
    returns_deleted_object: bool = False
    field_selectors: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] | None = None
    selectable_fields: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """`plural[.group]`, the name used in messages (`jobs.batch "pi" not found`) and as the storage key."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def strategic_merge(self) -> bool:
        return not self.custom


def _builtin() -> list[ResourceInfo]:
    r = ResourceInfo
    return [
        r("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), subresources=("status", "finalize"),
          field_selectors=("status.phase",)),
        r("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",), ("status", "eviction", "log", "binding"),
          tracks_generation=True, returns_deleted_object=True, field_selectors=POD_FIELDS),
        r("", "v1", "services", "service", "Service", True, ("svc",), ("all",), ("status",)),
        r("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        r("", "v1", "secrets", "secret", "Secret", True, field_selectors=("type",)),
        r("", "v1", "events", "event", "Event", True, ("ev",), field_selectors=EVENT_FIELDS),
        r("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
        r("", "v1", "nodes", "node", "Node", False, ("no",), subresources=("status",),
          field_selectors=("spec.unschedulable",)),
        r("batch", "v1", "jobs", "job", "Job", True, (), ("all",), ("status",), tracks_generation=True,
          orphan_by_default=True, field_selectors=("status.successful",)),
        r("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        r("events.k8s.io", "v1", "events", "event", "Event", True, ("ev",)),
        r("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", False, ("pc",)),
        # What the operator's own install (manifests/) is made of, so it can be applied to the sandbox. Stored
        # and served only: nothing runs a Deployment here.
        r("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",), ("status",),
          tracks_generation=True),
        r("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
        r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
          False),
        r("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
        r("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
        r("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True, ("pdb",),
          subresources=("status",), tracks_generation=True),
        r("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True, ("netpol",)),
        r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
          "CustomResourceDefinition", False, ("crd", "crds"), subresources=("status",), tracks_generation=True,
          unconditional_update=False),
    ]


def infos_from_crd(crd: dict[str, Any]) -> list[ResourceInfo]:
    """One ResourceInfo per served version of a CRD (all share the storage key `plural.group`)."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    out = []
    for v in spec.get("versions", []):
        if not v.get("served", True):
            continue
        subs = tuple(k for k in ("status", "scale") if k in (v.get("subresources") or {}))
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        out.append(ResourceInfo(
            group=spec.get("group", ""), version=v["name"], plural=names.get("plural", ""),
            singular=names.get("singular") or names.get("kind", "").lower(), kind=names.get("kind", ""),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subs, tracks_generation=True, unconditional_update=False, custom=True,
            schema=schema, printer_columns=v.get("additionalPrinterColumns"),
            selectable_fields=tuple(f.get("jsonPath", "").lstrip(".") for f in v.get("selectableFields") or ()),
            extra={"storage": bool(v.get("storage")), "crd": names.get("plural", "") + "." + spec.get("group", "")},
        ))
    return out


class Registry:
    """Served resources by (group, version, plural) and by storage key; CRD installs add and remove entries."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_key: dict[str, ResourceInfo] = {}
        self._by_kind: dict[tuple[str, str], ResourceInfo] = {}
        for info in _builtin():
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        self._by_gvr[(info.group, info.version, info.plural)] = info
        if info.key not in self._by_key or info.extra.get("storage"):
            self._by_key[info.key] = info
        self._by_kind[(info.api_version, info.kind)] = info

    def remove_crd(self, crd_name: str) -> None:
        for gvr, info in list(self._by_gvr.items()):
            if info.custom and info.extra.get("crd") == crd_name:
                del self._by_gvr[gvr]
                self._by_key.pop(info.key, None)
                self._by_kind.pop((info.api_version, info.kind), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def resolve(self, name: str | ResourceInfo) -> ResourceInfo:
        """Find by storage key (`pods`, `jobs.batch`, `mpijobs.kubeflow.org`); KeyError when not served."""
        if isinstance(name, ResourceInfo):
            return name
        return self._by_key[name]

    def by_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        return self._by_kind.get((api_version, kind))

    def all(self) -> list[ResourceInfo]:
        return list(self._by_gvr.values())

    # ---- discovery (legacy, unaggregated format: contract §1.3) ----

    def group_versions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for info in self._by_gvr.values():
            versions = out.setdefault(info.group, [])
            if info.version not in versions:
                versions.append(info.version)
        for versions in out.values():
            versions.sort(key=_version_priority)
        return out

    def api_group_list(self) -> dict[str, Any]:
        groups = []
        for group, versions in sorted(self.group_versions().items()):
            if not group:
                continue
            vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": vs, "preferredVersion": vs[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any] | None:
        for g in self.api_group_list()["groups"]:
            if g["name"] == group:
                return {"kind": "APIGroup", "apiVersion": "v1", **g}
        return None

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        infos = [i for i in self._by_gvr.values() if i.group == group and i.version == version]
        if not infos:
            return None
        resources: list[dict[str, Any]] = []
        for info in sorted(infos, key=lambda i: i.plural):
            entry: dict[str, Any] = {"name": info.plural, "singularName": info.singular,
                                     "namespaced": info.namespaced, "kind": info.kind, "verbs": STANDARD_VERBS}
            if info.short_names:
                entry["shortNames"] = list(info.short_names)
            if info.categories:
                entry["categories"] = list(info.categories)
            resources.append(entry)
            for sub in info.subresources:
                kind = {"eviction": "Eviction", "binding": "Binding", "scale": "Scale"}.get(sub, info.kind)
                sub_group = {"eviction": "policy", "scale": "autoscaling"}.get(sub)
                sub_entry: dict[str, Any] = {"name": f"{info.plural}/{sub}", "singularName": "",
                                             "namespaced": info.namespaced, "kind": kind,
                                             "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"])}
                if sub_group:
                    sub_entry["group"] = sub_group
                    sub_entry["version"] = "v1"
                resources.append(sub_entry)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def aggregated_discovery(registry: Registry, core: bool) -> dict[str, Any]:
    """`apidiscovery.k8s.io/v2` APIGroupDiscoveryList: the core group for `/api`, named groups for `/apis`."""
    items = []
    for group, versions in sorted(registry.group_versions().items()):
        if (group == "") != core:
            continue
        out_versions = []
        for version in versions:
            resources = []
            infos = sorted((i for i in registry.all() if i.group == group and i.version == version),
                           key=lambda i: i.plural)
            for info in infos:
                subs = []
                for sub in info.subresources:
                    kind = {"eviction": "Eviction", "binding": "Binding", "scale": "Scale"}.get(sub, info.kind)
                    sub_group = {"eviction": "policy", "scale": "autoscaling"}.get(sub, info.group)
                    sub_version = "v1" if sub in ("eviction", "scale") else info.version
                    subs.append({"subresource": sub, "responseKind": {"group": sub_group, "version": sub_version,
                                                                      "kind": kind},
                                 "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"])})
                entry: dict[str, Any] = {
                    "resource": info.plural,
                    "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
                    "scope": "Namespaced" if info.namespaced else "Cluster", "singularResource": info.singular,
                    "verbs": STANDARD_VERBS}
                if info.short_names:
                    entry["shortNames"] = list(info.short_names)
                if info.categories:
                    entry["categories"] = list(info.categories)
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            out_versions.append({"version": version, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": out_versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}


def wants_aggregated_discovery(accept: str) -> bool:
    """True when the Accept header asks for apidiscovery.k8s.io/v2 APIGroupDiscoveryList (any parameter order)."""
    for item in accept.split(","):
        media, *raw = [p.strip() for p in item.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if media == "application/json" and params.get("g") == "apidiscovery.k8s.io" and params.get("v") == "v2" \
                and params.get("as") == "APIGroupDiscoveryList":
            return True
        if media == "application/json" and not params:
            return False
    return False


AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first (so index 0 is preferred)."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)
