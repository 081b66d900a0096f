"""Validation of pod specs (Pods and pod templates in Jobs), the subset of core/v1 rules that catches bad objects.

What a real API server answers 422 for and a hand-built pod is likely to get wrong: container and volume names
(DNS labels, unique), volume mounts that name no volume or repeat a path, env var names, port numbers and
names, enum fields. Returns causes with the real field paths (`spec.containers[0].volumeMounts[1].name`).
"""

from __future__ import annotations

import re
from typing import Any

from mpi_operator.sandbox.errors import cause

Causes = list[dict[str, Any]]
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# RelaxedEnvironmentVariableValidation (on by default since 1.32): printable ASCII except '='.
_ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENUMS = {
    "restartPolicy": ("Always", "OnFailure", "Never"),
    "dnsPolicy": ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"),
}
_VOLUME_SOURCES = ("emptyDir", "configMap", "secret", "hostPath", "persistentVolumeClaim", "projected",
                   "downwardAPI", "nfs", "csi", "ephemeral", "image")


def _label_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "Required value"
    if len(value) > 63:
        return f'Invalid value: "{value}": must be no more than 63 characters'
    if not _DNS_LABEL.match(value):
        return (f'Invalid value: "{value}": a lowercase RFC 1123 label must consist of lower case alphanumeric '
                "characters or '-', and must start and end with an alphanumeric character")
    return None


def validate_pod_spec(spec: dict[str, Any], path: str) -> Causes:
    causes: Causes = []
    volumes = spec.get("volumes") or []
    volume_names: set[str] = set()
    for i, vol in enumerate(volumes):
        vpath = f"{path}.volumes[{i}]"
        problem = _label_problem(vol.get("name"))
        if problem:
            causes.append(cause("FieldValueRequired" if problem == "Required value" else "FieldValueInvalid",
                                problem, f"{vpath}.name"))
        elif vol["name"] in volume_names:
            causes.append(cause("FieldValueDuplicate", f'Duplicate value: "{vol["name"]}"', f"{vpath}.name"))
        else:
            volume_names.add(vol["name"])
        sources = [s for s in _VOLUME_SOURCES if s in vol]
        if len(sources) > 1:
            causes.append(cause("FieldValueForbidden", "Forbidden: may not specify more than 1 volume type",
                                f"{vpath}.{sources[1]}"))
        for kind, key in (("configMap", "name"), ("secret", "secretName"), ("persistentVolumeClaim", "claimName")):
            if kind in vol and not (vol[kind] or {}).get(key):
                causes.append(cause("FieldValueRequired", "Required value", f"{vpath}.{kind}.{key}"))
    container_names: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field) or []):
            causes += _validate_container(c, f"{path}.{field}[{i}]", volume_names, container_names)
    if not spec.get("containers"):
        causes.append(cause("FieldValueRequired", "Required value", f"{path}.containers"))
    for field, allowed in _ENUMS.items():
        value = spec.get(field)
        if value is not None and value not in allowed:
            supported = ", ".join(f'"{a}"' for a in allowed)
            causes.append(cause("FieldValueNotSupported", f'Unsupported value: "{value}": supported values: '
                                f"{supported}", f"{path}.{field}"))
    for field in ("hostname", "subdomain"):
        if spec.get(field) is not None:
            problem = _label_problem(spec[field])
            if problem:
                causes.append(cause("FieldValueInvalid", problem, f"{path}.{field}"))
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and not isinstance(grace, int):
        causes.append(cause("FieldValueTypeInvalid", "Invalid value: must be an integer",
                            f"{path}.terminationGracePeriodSeconds"))
    return causes


def _validate_container(c: dict[str, Any], path: str, volumes: set[str], seen: set[str]) -> Causes:
    causes: Causes = []
    name = c.get("name")
    problem = _label_problem(name)
    if problem:
        causes.append(cause("FieldValueRequired" if problem == "Required value" else "FieldValueInvalid", problem,
                            f"{path}.name"))
    elif name in seen:
        causes.append(cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{path}.name"))
    else:
        seen.add(str(name))
    if not c.get("image"):
        causes.append(cause("FieldValueRequired", "Required value", f"{path}.image"))
    mount_paths: set[str] = set()
    for j, m in enumerate(c.get("volumeMounts") or []):
        mpath = f"{path}.volumeMounts[{j}]"
        if not m.get("name"):
            causes.append(cause("FieldValueRequired", "Required value", f"{mpath}.name"))
        elif m["name"] not in volumes:
            causes.append(cause("FieldValueNotFound", f'Not found: "{m["name"]}"', f"{mpath}.name"))
        mount = m.get("mountPath")
        if not mount:
            causes.append(cause("FieldValueRequired", "Required value", f"{mpath}.mountPath"))
        elif mount in mount_paths:
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{mount}": must be unique', f"{mpath}.mountPath"))
        else:
            mount_paths.add(mount)
    for j, env in enumerate(c.get("env") or []):
        env_name = env.get("name")
        if not env_name:
            causes.append(cause("FieldValueRequired", "Required value", f"{path}.env[{j}].name"))
        elif not _ENV_NAME.match(str(env_name)):
            causes.append(cause("FieldValueInvalid", f'Invalid value: "{env_name}": a valid environment variable '
                                "name must consist only of printable ASCII characters other than '='",
                                f"{path}.env[{j}].name"))
    port_names: set[str] = set()
    for j, p in enumerate(c.get("ports") or []):
        number = p.get("containerPort")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(cause("FieldValueInvalid", f"Invalid value: {number}: must be between 1 and 65535, "
                                "inclusive", f"{path}.ports[{j}].containerPort"))
        pname = p.get("name")
        if pname is not None:
            if len(str(pname)) > 15 or not _PORT_NAME.match(str(pname)) or not re.search("[a-z]", str(pname)):
                causes.append(cause("FieldValueInvalid", f'Invalid value: "{pname}": must be no more than 15 '
                                    "characters, contain only lowercase alphanumerics and '-', and at least one "
                                    "letter", f"{path}.ports[{j}].name"))
            elif pname in port_names:
                causes.append(cause("FieldValueDuplicate", f'Duplicate value: "{pname}"', f"{path}.ports[{j}].name"))
            port_names.add(str(pname))
    return causes
