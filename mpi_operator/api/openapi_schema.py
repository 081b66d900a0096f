"""OpenAPI v3 structural schemas of Kubernetes core types, generated from kubernetes_asyncio's model metadata.

The python client keeps each type's fields, nesting and required fields (`openapi_types`, `attribute_map`,
setters that refuse None), but not the Go markers the API server honours: int32 vs int64, quantities,
list/map semantics, schema defaults. Those come from the tables below, keyed by model and JSON field name.
Invariant: every object node is structural (a `type` plus properties, additionalProperties or
x-kubernetes-preserve-unknown-fields), so the result can be embedded in a CRD as is.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import models

Schema = dict[str, Any]

# Kubernetes resource.Quantity: a string in the python client, int-or-string on the wire.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def int_or_string_schema() -> Schema:
    """intstr.IntOrString (the python client calls it `object`)."""
    return {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}


def quantity_schema() -> Schema:
    """resource.Quantity: an integer or a string matching the quantity grammar (`cpu: 1`, `memory: 1Gi`)."""
    return {**int_or_string_schema(), "pattern": QUANTITY_PATTERN}


# Fields whose Go type is resource.Quantity (or a map of them); the python client types them as str.
QUANTITY_FIELDS = frozenset({
    ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V1PodSpec", "overhead"),
    ("V1ResourceFieldSelector", "divisor"),
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"),
    ("V1VolumeResourceRequirements", "requests"),
})

# Fields whose Go type is intstr.IntOrString. The python client types them `object`, as it does free-form JSON
# (FieldsV1, RawExtension), which instead keeps unknown fields.
INT_OR_STRING_FIELDS = frozenset({
    ("V1HTTPGetAction", "port"),
    ("V1TCPSocketAction", "port"),
})

# Go int64 fields (or lists of them); every other integer is an int32.
INT64_FIELDS = frozenset({
    ("V1PodSecurityContext", "fsGroup"),
    ("V1PodSecurityContext", "runAsGroup"),
    ("V1PodSecurityContext", "runAsUser"),
    ("V1PodSecurityContext", "supplementalGroups"),
    ("V1PodSpec", "activeDeadlineSeconds"),
    ("V1PodSpec", "terminationGracePeriodSeconds"),
    ("V1Probe", "terminationGracePeriodSeconds"),
    ("V1SecurityContext", "runAsGroup"),
    ("V1SecurityContext", "runAsUser"),
    ("V1ServiceAccountTokenProjection", "expirationSeconds"),
    ("V1SleepAction", "seconds"),
    ("V1Toleration", "tolerationSeconds"),
})

# +listType=atomic fields, by model: the list is replaced as a whole by server-side apply.
ATOMIC_LISTS: dict[str, tuple[str, ...]] = {
    "V1Capabilities": ("add", "drop"),
    "V1CephFSVolumeSource": ("monitors",),
    "V1ConfigMapProjection": ("items",),
    "V1ConfigMapVolumeSource": ("items",),
    "V1Container": ("args", "command", "envFrom", "resizePolicy", "restartPolicyRules"),
    "V1DownwardAPIProjection": ("items",),
    "V1DownwardAPIVolumeSource": ("items",),
    "V1EphemeralContainer": ("args", "command", "envFrom", "resizePolicy", "restartPolicyRules"),
    "V1ExecAction": ("command",),
    "V1FCVolumeSource": ("targetWWNs", "wwids"),
    "V1HTTPGetAction": ("httpHeaders",),
    "V1HostAlias": ("hostnames",),
    "V1ISCSIVolumeSource": ("portals",),
    "V1LabelSelector": ("matchExpressions",),
    "V1LabelSelectorRequirement": ("values",),
    "V1NodeAffinity": ("preferredDuringSchedulingIgnoredDuringExecution",),
    "V1NodeSelector": ("nodeSelectorTerms",),
    "V1NodeSelectorRequirement": ("values",),
    "V1NodeSelectorTerm": ("matchExpressions", "matchFields"),
    "V1PersistentVolumeClaimSpec": ("accessModes",),
    "V1PodAffinity": (
        "preferredDuringSchedulingIgnoredDuringExecution",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ),
    "V1PodAffinityTerm": ("matchLabelKeys", "mismatchLabelKeys", "namespaces"),
    "V1PodAntiAffinity": (
        "preferredDuringSchedulingIgnoredDuringExecution",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ),
    "V1PodDNSConfig": ("nameservers", "options", "searches"),
    "V1PodSecurityContext": ("supplementalGroups", "sysctls"),
    "V1PodSpec": ("readinessGates", "tolerations"),
    "V1ProjectedVolumeSource": ("sources",),
    "V1RBDVolumeSource": ("monitors",),
    "V1SecretProjection": ("items",),
    "V1SecretVolumeSource": ("items",),
    "V1TopologySpreadConstraint": ("matchLabelKeys",),
}

# +listType=set fields.
SET_LISTS = frozenset({("V1ContainerRestartRuleOnExitCodes", "values")})

# +listType=map fields and their +listMapKey keys (merged per key by strategic merge and apply).
MAP_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("V1Container", "env"): ("name",),
    ("V1Container", "ports"): ("containerPort", "protocol"),
    ("V1Container", "volumeDevices"): ("devicePath",),
    ("V1Container", "volumeMounts"): ("mountPath",),
    ("V1EphemeralContainer", "env"): ("name",),
    ("V1EphemeralContainer", "ports"): ("containerPort", "protocol"),
    ("V1EphemeralContainer", "volumeDevices"): ("devicePath",),
    ("V1EphemeralContainer", "volumeMounts"): ("mountPath",),
    ("V1PodSpec", "containers"): ("name",),
    ("V1PodSpec", "ephemeralContainers"): ("name",),
    ("V1PodSpec", "hostAliases"): ("ip",),
    ("V1PodSpec", "imagePullSecrets"): ("name",),
    ("V1PodSpec", "initContainers"): ("name",),
    ("V1PodSpec", "resourceClaims"): ("name",),
    ("V1PodSpec", "schedulingGates"): ("name",),
    ("V1PodSpec", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
    ("V1PodSpec", "volumes"): ("name",),
    ("V1ResourceRequirements", "claims"): ("name",),
}

# +default values the API server applies inside the pod template.
DEFAULTS: dict[tuple[str, str], Any] = {
    ("V1AzureDiskVolumeSource", "fsType"): "ext4",
    ("V1AzureDiskVolumeSource", "readOnly"): False,
    ("V1ConfigMapEnvSource", "name"): "",
    ("V1ConfigMapKeySelector", "name"): "",
    ("V1ConfigMapProjection", "name"): "",
    ("V1ConfigMapVolumeSource", "name"): "",
    ("V1ContainerPort", "protocol"): "TCP",
    ("V1FileKeySelector", "optional"): False,
    ("V1GRPCAction", "service"): "",
    ("V1ISCSIVolumeSource", "iscsiInterface"): "default",
    ("V1LocalObjectReference", "name"): "",
    ("V1RBDVolumeSource", "keyring"): "/etc/ceph/keyring",
    ("V1RBDVolumeSource", "pool"): "rbd",
    ("V1RBDVolumeSource", "user"): "admin",
    ("V1ScaleIOVolumeSource", "fsType"): "xfs",
    ("V1ScaleIOVolumeSource", "storageMode"): "ThinProvisioned",
    ("V1SecretEnvSource", "name"): "",
    ("V1SecretKeySelector", "name"): "",
    ("V1SecretProjection", "name"): "",
}

# +mapType=atomic on a map field.
ATOMIC_MAP_FIELDS = frozenset({("V1PodSpec", "nodeSelector")})

# +structType=atomic / +mapType=atomic on a type: applies wherever the type is embedded.
ATOMIC_STRUCTS = frozenset({
    "V1ConfigMapEnvSource",
    "V1ConfigMapKeySelector",
    "V1ConfigMapProjection",
    "V1ConfigMapVolumeSource",
    "V1FileKeySelector",
    "V1LabelSelector",
    "V1LocalObjectReference",
    "V1NodeSelector",
    "V1NodeSelectorTerm",
    "V1ObjectFieldSelector",
    "V1ResourceFieldSelector",
    "V1SecretEnvSource",
    "V1SecretKeySelector",
    "V1SecretProjection",
    "V1TypedLocalObjectReference",
})

# Which properties an embedded ObjectMeta keeps, as controller-gen renders it in a CRD.
EMBEDDED_OBJECT_META_FIELDS = ("annotations", "finalizers", "labels", "name", "namespace")

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")
_PRIMITIVES: dict[str, Schema] = {
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}


_VALIDATING_CONFIGURATION = client.Configuration()
_VALIDATING_CONFIGURATION.client_side_validation = True


def _required_fields(model: type[Any]) -> list[str]:
    """JSON names of the fields whose setter refuses None (the generator's rendering of Go's required)."""
    instance = object.__new__(model)
    instance.local_vars_configuration = _VALIDATING_CONFIGURATION
    required = []
    for attribute, json_name in model.attribute_map.items():
        try:
            getattr(model, attribute).fset(instance, None)
        except ValueError:
            required.append(json_name)
    return sorted(required)


def _type_schema(type_name: str, model_name: str, json_name: str) -> Schema:
    """Schema of one field's python-client type string (a primitive, list[...], dict(str, ...) or a model)."""
    key = (model_name, json_name)
    if key in QUANTITY_FIELDS and type_name == "str":
        return quantity_schema()
    if type_name == "int":
        return {"type": "integer", "format": "int64" if key in INT64_FIELDS else "int32"}
    if type_name == "object":
        if key in INT_OR_STRING_FIELDS:
            return int_or_string_schema()
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if type_name in _PRIMITIVES:
        return dict(_PRIMITIVES[type_name])
    if match := _LIST.match(type_name):
        return {"type": "array", "items": _type_schema(match.group(1), model_name, json_name)}
    if match := _DICT.match(type_name):
        return {"type": "object", "additionalProperties": _type_schema(match.group(1), model_name, json_name)}
    if type_name == "V1ObjectMeta":
        return embedded_object_meta_schema()
    return model_schema(type_name)


def _field_markers(model_name: str, json_name: str) -> Schema:
    """The Go markers of one field, in the form the API server reads them."""
    key = (model_name, json_name)
    markers: Schema = {}
    if json_name in ATOMIC_LISTS.get(model_name, ()):
        markers["x-kubernetes-list-type"] = "atomic"
    elif key in SET_LISTS:
        markers["x-kubernetes-list-type"] = "set"
    elif key in MAP_LISTS:
        markers["x-kubernetes-list-type"] = "map"
        markers["x-kubernetes-list-map-keys"] = list(MAP_LISTS[key])
    if key in ATOMIC_MAP_FIELDS:
        markers["x-kubernetes-map-type"] = "atomic"
    if key in DEFAULTS:
        markers["default"] = DEFAULTS[key]
    return markers


@cache
def _model_schema(model_name: str) -> Schema:
    model = getattr(models, model_name)
    properties: Schema = {}
    for attribute, type_name in model.openapi_types.items():
        json_name = model.attribute_map[attribute]
        properties[json_name] = _type_schema(type_name, model_name, json_name) | _field_markers(model_name, json_name)
    schema: Schema = {"type": "object", "properties": properties}
    if required := _required_fields(model):
        schema["required"] = required
    if model_name in ATOMIC_STRUCTS:
        schema["x-kubernetes-map-type"] = "atomic"
    return schema


def model_schema(model_name: str) -> Schema:
    """A fresh (mutable) schema of the kubernetes_asyncio model `model_name`, e.g. "V1PodSpec".

    Types are expanded inline, so a recursive type (JSONSchemaProps) cannot be rendered; none is reachable from
    a pod template.
    """
    return copy.deepcopy(_model_schema(model_name))


def embedded_object_meta_schema() -> Schema:
    """ObjectMeta embedded in a CRD: only the fields the API server keeps for embedded objects."""
    full = _model_schema("V1ObjectMeta")["properties"]
    return {"type": "object", "properties": {name: copy.deepcopy(full[name]) for name in EMBEDDED_OBJECT_META_FIELDS}}


def pod_template_spec_schema() -> Schema:
    """The schema of a PodTemplateSpec embedded in a CRD, as upstream's CRD has it."""
    return model_schema("V1PodTemplateSpec")
