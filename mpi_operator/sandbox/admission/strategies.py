"""Per-type server rules for built-in resources: defaults, server-owned fields and type-specific validation.

Mirrors the registry strategies of kube-apiserver for the types this project touches (Pods, Jobs, Services,
Namespaces, Events, CRDs). Each hook mutates the object being written in place and returns 422 causes; the store
calls them between decoding and committing, for HTTP and in-process writes alike.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from mpi_operator.sandbox.admission.metadata import validate_config_keys, validate_labels
from mpi_operator.sandbox.admission.podspec import validate_pod_spec
from mpi_operator.sandbox.errors import bad_request, cause
from mpi_operator.sandbox.timefmt import now_rfc3339

JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_service_ips = (str(ipaddress.IPv4Address("10.96.0.10") + i) for i in itertools.count())
Causes = list[dict[str, Any]]
CreateHook = Callable[[dict[str, Any]], Causes]
UpdateHook = Callable[[dict[str, Any], dict[str, Any]], Causes]


def on_create(key: str, obj: dict[str, Any]) -> Causes:
    """Defaults and server-set fields for a new object; runs after metadata (uid, name) is final."""
    hook = _CREATE.get(key)
    with _decoding(key):
        return hook(obj) if hook else []


def on_update(key: str, new: dict[str, Any], old: dict[str, Any]) -> Causes:
    hook = _UPDATE.get(key)
    with _decoding(key):
        return hook(new, old) if hook else []


@contextlib.contextmanager
def _decoding(key: str) -> Iterator[None]:
    """A field of the wrong JSON type (a string where a list belongs) trips the hooks; a real server fails to
    decode such a body and answers 400, not 500."""
    try:
        yield
    except (AttributeError, TypeError) as exc:
        raise bad_request(f"unable to decode the {key} body: a field has the wrong type ({exc})") from None


# ---- pods ----

def _pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in itertools.chain(spec.get("initContainers") or [], spec.get("containers") or []):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = str(c.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")


def _qos_class(spec: dict[str, Any]) -> str:
    containers = spec.get("containers") or []
    reqs = [(c.get("resources") or {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res) is not None
        and (r.get("requests") or r.get("limits") or {}).get(res) == (r.get("limits") or {}).get(res)
        for r in reqs for res in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _pod_create(obj: dict[str, Any]) -> Causes:
    spec = obj.setdefault("spec", {})
    _pod_spec_defaults(spec)
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
    return validate_pod_spec(spec, "spec")


def _strip_mutable_pod_fields(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    for k in ("activeDeadlineSeconds", "tolerations", "schedulingGates", "nodeName"):
        out.pop(k, None)
    out["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("containers") or []]
    out["initContainers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("initContainers") or []]
    return out


def _pod_update(new: dict[str, Any], old: dict[str, Any]) -> Causes:
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    _pod_spec_defaults(new_spec)
    if _strip_mutable_pod_fields(new_spec) != _strip_mutable_pod_fields(old_spec):
        return [cause("FieldValueForbidden", "Forbidden: pod updates may not change fields other than "
                      "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                      "`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds`"
                      " (allow it to be set to 1 if it was previously negative)", "spec")]
    if old_spec.get("nodeName") and new_spec.get("nodeName") != old_spec.get("nodeName"):
        return [cause("FieldValueForbidden", "Forbidden: field is immutable", "spec.nodeName")]
    return []


# ---- jobs ----

def _job_create(obj: dict[str, Any]) -> Causes:
    meta = obj["metadata"]
    spec = obj.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tspec = template.setdefault("spec", {})
    if not spec.get("manualSelector"):
        labels = tmeta.setdefault("labels", {})
        for k in CONTROLLER_UID_LABELS:
            labels.setdefault(k, meta["uid"])
        for k in JOB_NAME_LABELS:
            labels.setdefault(k, meta["name"])
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABELS[0]: meta["uid"]}}
    obj.pop("status", None)
    obj["status"] = {}
    causes = _validate_job_spec(spec)
    restart = tspec.get("restartPolicy")
    _pod_spec_defaults(tspec)
    if restart is None:
        causes.append(cause("FieldValueRequired", 'Required value: valid values: "OnFailure", "Never"',
                            "spec.template.spec.restartPolicy"))
    elif restart not in ("OnFailure", "Never"):
        causes.append(cause("FieldValueNotSupported", f'Unsupported value: "{restart}": supported values: '
                            '"OnFailure", "Never"', "spec.template.spec.restartPolicy"))
    causes += validate_labels(tmeta.get("labels") or {}, "spec.template.metadata.labels")
    return causes + validate_pod_spec(tspec, "spec.template.spec")


def _validate_job_spec(spec: dict[str, Any]) -> Causes:
    causes: Causes = []
    for f in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        v = spec.get(f)
        if v is not None and (not isinstance(v, int) or v < 0):
            causes.append(cause("FieldValueInvalid", f"Invalid value: {v}: must be greater than or equal to 0",
                                f"spec.{f}"))
    return causes


def _job_update(new: dict[str, Any], old: dict[str, Any]) -> Causes:
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    for f in ("completionMode", "podReplacementPolicy", "backoffLimit", "parallelism", "suspend"):
        if f not in spec and f in old_spec:
            spec[f] = old_spec[f]
    tspec = spec.setdefault("template", {}).setdefault("spec", {})
    _pod_spec_defaults(tspec)  # defaulting precedes validation, so a PUT without defaults changes nothing
    causes = _validate_job_spec(spec)
    causes += _job_template_changes(spec, old_spec, old.get("status") or {})
    if spec.get("selector") != old_spec.get("selector"):
        causes.append(cause("FieldValueInvalid", "Invalid value: field is immutable", "spec.selector"))
    if spec.get("completionMode") != old_spec.get("completionMode"):
        causes.append(cause("FieldValueInvalid", "Invalid value: field is immutable", "spec.completionMode"))
    if spec.get("template") != old_spec.get("template"):
        causes += validate_labels((spec["template"].get("metadata") or {}).get("labels") or {},
                                  "spec.template.metadata.labels")
        causes += validate_pod_spec(tspec, "spec.template.spec")
    return causes


_SCHEDULING_DIRECTIVES = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _job_template_changes(spec: dict[str, Any], old_spec: dict[str, Any], status: dict[str, Any]) -> Causes:
    """The pod template is immutable, except scheduling directives and template labels/annotations while the
    Job is suspended and has never started (status.startTime unset) — batch/v1 Job strategy."""
    new_t, old_t = spec.get("template") or {}, old_spec.get("template") or {}
    if new_t == old_t:
        return []
    if old_spec.get("suspend") and not status.get("startTime"):
        def fixed(t: dict[str, Any]) -> Any:
            tspec = {k: v for k, v in (t.get("spec") or {}).items() if k not in _SCHEDULING_DIRECTIVES}
            tmeta = {k: v for k, v in (t.get("metadata") or {}).items() if k not in ("labels", "annotations")}
            return tmeta, tspec
        if fixed(new_t) == fixed(old_t):
            return []
    return [cause("FieldValueInvalid", "Invalid value: field is immutable", "spec.template")]


def _job_status_update(new: dict[str, Any], old: dict[str, Any]) -> Causes:
    """jobs/status transition rules that catch controller bugs: terminal conditions stay, completionTime needs
    Complete, Complete and Failed never together, startTime is removable only while suspended, the succeeded and
    failed counters never decrease."""
    def true_types(obj: dict[str, Any]) -> set[str]:
        return {c.get("type", "") for c in (obj.get("status") or {}).get("conditions") or []
                if c.get("status") == "True"}
    causes: Causes = []
    now, before = true_types(new), true_types(old)
    for terminal in ("Complete", "Failed"):
        if terminal in before and terminal not in now:
            causes.append(cause("FieldValueInvalid", f"Invalid value: cannot remove the {terminal}=True "
                                "condition of a finished Job", "status.conditions"))
    if {"Complete", "Failed"} <= now:
        causes.append(cause("FieldValueInvalid", "Invalid value: a Job cannot be both Complete and Failed",
                            "status.conditions"))
    status, old_status = new.get("status") or {}, old.get("status") or {}
    if status.get("completionTime") and "Complete" not in now:
        causes.append(cause("FieldValueInvalid", "Invalid value: completionTime can only be set when the Job has "
                            "the Complete=True condition", "status.completionTime"))
    if old_status.get("startTime") and not status.get("startTime") and not (new.get("spec") or {}).get("suspend"):
        causes.append(cause("FieldValueRequired", "Required value: startTime cannot be removed for unsuspended job",
                            "status.startTime"))
    for counter in ("succeeded", "failed"):
        if int(status.get(counter) or 0) < int(old_status.get(counter) or 0):
            causes.append(cause("FieldValueInvalid", f"Invalid value: {status.get(counter) or 0}: cannot decrease "
                                f"the {counter} counter", f"status.{counter}"))
    return causes


def on_status_update(key: str, new: dict[str, Any], old: dict[str, Any]) -> Causes:
    hook = _STATUS_UPDATE.get(key)
    return hook(new, old) if hook else []


# ---- services, namespaces, events, CRDs ----

def _service_create(obj: dict[str, Any]) -> Causes:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None" and spec["type"] != "ExternalName":
        spec.setdefault("clusterIP", next(_service_ips))
    if spec.get("clusterIP"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
    obj["status"] = {"loadBalancer": {}}
    return _validate_service_spec(spec)


def _validate_service_spec(spec: dict[str, Any]) -> Causes:
    causes: Causes = []
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and spec.get("type") != "ExternalName":
        causes.append(cause("FieldValueRequired", "Required value", "spec.ports"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            causes.append(cause("FieldValueInvalid", f"Invalid value: {port}: must be between 1 and 65535, "
                                "inclusive", f"spec.ports[{i}].port"))
        name = p.get("name")
        if len(ports) > 1 and not name:
            causes.append(cause("FieldValueRequired", "Required value", f"spec.ports[{i}].name"))
        elif name in names:
            causes.append(cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"spec.ports[{i}].name"))
        if name:
            names.add(name)
    return causes + validate_labels(spec.get("selector") or {}, "spec.selector")


def _service_update(new: dict[str, Any], old: dict[str, Any]) -> Causes:
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    for f in ("clusterIP", "clusterIPs", "type", "sessionAffinity", "ipFamilies", "ipFamilyPolicy",
              "internalTrafficPolicy"):
        if f not in spec and f in old_spec:
            spec[f] = old_spec[f]
    if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP"):
        return [cause("FieldValueInvalid", "Invalid value: field is immutable", "spec.clusterIP")]
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p.get("port"))
    return _validate_service_spec(spec)


def _secret(obj: dict[str, Any], _old: dict[str, Any] | None = None) -> Causes:
    """stringData is write-only: merged into data (base64) and dropped, as the real API server does."""
    string_data = obj.pop("stringData", None) or {}
    data = obj.get("data") or {}
    causes: Causes = []
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append(cause("FieldValueInvalid", "Invalid value: illegal base64 data", f"data[{key}]"))
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    return causes + validate_config_keys(obj)


def _config_map(obj: dict[str, Any], _old: dict[str, Any] | None = None) -> Causes:
    return validate_config_keys(obj)


def _namespace_create(obj: dict[str, Any]) -> Causes:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    return []


def _namespace_update(new: dict[str, Any], old: dict[str, Any]) -> Causes:
    new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"]["name"]
    new["spec"] = old.get("spec", {})
    return []


def _core_event(obj: dict[str, Any], _old: dict[str, Any] | None = None) -> Causes:
    message = obj.get("message") or ""
    if len(message.encode()) > 1024:
        return [cause("FieldValueTooLong", "Too long: may not be more than 1024 bytes", "message")]
    if obj.get("involvedObject") is None:
        return [cause("FieldValueRequired", "Required value", "involvedObject")]
    return []


def _new_event(obj: dict[str, Any], _old: dict[str, Any] | None = None) -> Causes:
    causes = []
    for f in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(f):
            causes.append(cause("FieldValueRequired", "Required value", f))
    if len((obj.get("note") or "").encode()) > 1024:
        causes.append(cause("FieldValueTooLong", "Too long: may not be more than 1024 bytes", "note"))
    return causes


def _priority_class(obj: dict[str, Any], _old: dict[str, Any] | None = None) -> Causes:
    if not isinstance(obj.get("value"), int):
        return [cause("FieldValueRequired", "Required value", "value")]
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return []


def crd_status(spec: dict[str, Any]) -> dict[str, Any]:
    """The status the apiextensions controllers reach right after a CRD is created: names accepted, established."""
    now = now_rfc3339()
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    return {
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"},
        ],
        "acceptedNames": names,
        "storedVersions": storage,
    }


def _crd_create(obj: dict[str, Any]) -> Causes:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    causes: Causes = []
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    if obj["metadata"]["name"] != expected:
        causes.append(cause("FieldValueInvalid", f'Invalid value: "{obj["metadata"]["name"]}": must be '
                            "spec.names.plural+\".\"+spec.group", "metadata.name"))
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(cause("FieldValueInvalid", "Invalid value: must have exactly one version marked as storage "
                            "version", "spec.versions"))
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    spec.setdefault("scope", "Namespaced")
    fins = obj["metadata"].setdefault("finalizers", [])
    if CRD_CLEANUP_FINALIZER not in fins:
        fins.append(CRD_CLEANUP_FINALIZER)
    obj["status"] = crd_status(spec)
    return causes


_CREATE: dict[str, CreateHook] = {
    "pods": _pod_create, "secrets": _secret, "configmaps": _config_map, "jobs.batch": _job_create,
    "services": _service_create,
    "namespaces": _namespace_create, "events": _core_event, "events.events.k8s.io": _new_event,
    "priorityclasses.scheduling.k8s.io": _priority_class,
    "customresourcedefinitions.apiextensions.k8s.io": _crd_create,
}
_UPDATE: dict[str, UpdateHook] = {
    "pods": _pod_update, "secrets": _secret, "configmaps": _config_map, "jobs.batch": _job_update,
    "services": _service_update,
    "namespaces": _namespace_update, "events": _core_event, "events.events.k8s.io": _new_event,
    "priorityclasses.scheduling.k8s.io": _priority_class,
}
_STATUS_UPDATE: dict[str, UpdateHook] = {"jobs.batch": _job_status_update}
