"""`meta.k8s.io/v1` Table answers (what `kubectl get` asks for with `Accept: ...;as=Table`).

Custom resources get Name plus the CRD's additionalPrinterColumns (or the default Age column); built-in kinds get
kubectl's familiar columns. Pure: `now` is a parameter, so ages are reproducible in tests. Cells follow the real
server's typing: `date` cells are already humanised ("5m"), numbers stay numbers, missing values are None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from mpi_operator.sandbox.wire.jsonpath import JSONPathError, compile_path
from mpi_operator.sandbox.wire.selectors import SelectorError, label_selector_from_dict, value_at

Row = dict[str, Any]
Cell = Any
CellFn = Callable[[Mapping[str, Any], datetime], Cell]

_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC."
)
_CUSTOM_COLUMN_DESCRIPTION = "Custom resource definition column (in JSONPath format)"
DEFAULT_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": _AGE_DESCRIPTION}
]


# ---------------------------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 (`2026-01-02T03:04:05Z`, with or without fraction) to an aware datetime; None if unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: '45s', '3m20s', '15m', '5h3m', '2d4h', '3y'."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(value: Any, now: datetime) -> str:
    """A timestamp as a relative age; '<unknown>' when absent, as kubectl prints it."""
    stamp = parse_timestamp(value)
    if stamp is None:
        return "<unknown>"
    return human_duration((now - stamp).total_seconds())


# ---------------------------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns
# ---------------------------------------------------------------------------------------------------------------


def _column_definition(name: str, kind: str, description: str, fmt: str = "", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


def _json_cell(kind: str, value: Any, now: datetime) -> Cell:
    """Typed cell for a printer column value, as apiextensions' cellForJSONValue does."""
    if value is None:
        return None
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age(value, now) if parse_timestamp(value) else "<invalid>"
    if kind == "string":
        return _text(value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _custom_columns(printer_columns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[CellFn]]:
    columns = printer_columns or DEFAULT_PRINTER_COLUMNS
    definitions = [_column_definition("Name", "string", _NAME_DESCRIPTION, "name")]
    cells: list[CellFn] = [lambda obj, now: (obj.get("metadata") or {}).get("name")]
    for column in columns:
        json_path = str(column.get("jsonPath", ""))
        kind = str(column.get("type", "string"))
        description = column.get("description") or f"{_CUSTOM_COLUMN_DESCRIPTION}: {json_path}"
        definitions.append(_column_definition(
            str(column.get("name", "")), kind, description, str(column.get("format", "")),
            int(column.get("priority", 0))))
        try:
            evaluate = compile_path(json_path)
        except JSONPathError:
            cells.append(lambda obj, now: None)
            continue
        cells.append(_custom_cell(evaluate, kind))
    return definitions, cells


def _custom_cell(evaluate: Callable[[Any], list[Any]], kind: str) -> CellFn:
    def cell(obj: Mapping[str, Any], now: datetime) -> Cell:
        found = evaluate(obj)
        return _json_cell(kind, found[0], now) if found else None

    return cell


# ---------------------------------------------------------------------------------------------------------------
# Built-in kinds: kubectl's printers
# ---------------------------------------------------------------------------------------------------------------


def _name(obj: Mapping[str, Any], now: datetime) -> Cell:
    return value_at(obj, "metadata", "name")


def _age(obj: Mapping[str, Any], now: datetime) -> Cell:
    return age(value_at(obj, "metadata", "creationTimestamp"), now)


def _pod_counts(obj: Mapping[str, Any], now: datetime) -> tuple[str, int, str, int]:
    """(status reason, ready containers, restarts text, total containers) as kubectl's printPod works them out."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    total = len(spec.get("containers") or [])
    reason = status.get("reason") or status.get("phase") or ""
    restarts = 0
    last_restart: datetime | None = None
    ready = 0

    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    for index, container in enumerate(init_statuses):
        state = container.get("state") or {}
        restarts += int(container.get("restartCount") or 0)
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{index}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break

    if not initializing:
        restarts = 0
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            finished = parse_timestamp(value_at(container, "lastState", "terminated", "finishedAt"))
            if finished and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif container.get("ready") and "running" in state:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"

    if value_at(obj, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart is not None:
        restart_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    return reason, ready, restart_text, total


def _pod_row(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    reason, ready, restarts, total = _pod_counts(obj, now)
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    gates = spec.get("readinessGates") or []
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    gates_text = f"{sum(conditions.get(g.get('conditionType')) == 'True' for g in gates)}/{len(gates)}" if gates \
        else "<none>"
    return [
        _name(obj, now), f"{ready}/{total}", reason, restarts, _age(obj, now),
        status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>", gates_text,
    ]


def _job_status(obj: Mapping[str, Any]) -> str:
    conditions = {c.get("type") for c in value_at(obj, "status", "conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions:
        return "Complete"
    if "Failed" in conditions:
        return "Failed"
    if value_at(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    for condition in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition in conditions:
            return condition
    return "Running"


def _job_row(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    else:
        raw = spec.get("parallelism")
        parallelism = 1 if raw is None else int(raw)
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start, end = parse_timestamp(status.get("startTime")), parse_timestamp(status.get("completionTime"))
    duration = human_duration(((end or now) - start).total_seconds()) if start else ""
    containers = value_at(spec, "template", "spec", "containers") or []
    return [
        _name(obj, now), _job_status(obj), completions, duration, _age(obj, now),
        ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
        _selector_text(spec.get("selector")),
    ]


def _selector_text(selector: Any) -> str:
    if not isinstance(selector, Mapping):
        return "<none>"
    try:
        parsed = label_selector_from_dict(selector)
    except SelectorError:
        return "<error>"
    return ",".join(sorted((str(r) for r in parsed.requirements), key=lambda s: s.lstrip("!"))) or "<none>"


def _service_row(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}/{port.get('protocol') or 'TCP'}"
        if port.get("nodePort"):
            text = f"{port.get('port')}:{port['nodePort']}/{port.get('protocol') or 'TCP'}"
        ports.append(text)
    external = ",".join(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = value_at(obj, "status", "loadBalancer", "ingress") or []
        external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or "<pending>"
    if kind == "ExternalName":
        external = spec.get("externalName") or ""
    selector = spec.get("selector") or {}
    return [
        _name(obj, now), kind, spec.get("clusterIP") or "<none>", external or "<none>",
        ",".join(ports) or "<none>", _age(obj, now),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _event_row(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    involved = obj.get("involvedObject") or {}
    series = obj.get("series") or {}
    last = obj.get("lastTimestamp") or series.get("lastObservedTime") or obj.get("eventTime") or \
        value_at(obj, "metadata", "creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("eventTime") or value_at(obj, "metadata", "creationTimestamp")
    source = value_at(obj, "source", "component") or obj.get("reportingComponent") or ""
    host = value_at(obj, "source", "host")
    count = int(obj.get("count") or series.get("count") or 1)
    return [
        age(last, now), obj.get("type") or "", obj.get("reason") or "",
        f"{str(involved.get('kind') or '').lower()}/{involved.get('name') or ''}",
        involved.get("fieldPath") or "", f"{source}, {host}" if host else source, obj.get("message") or "",
        age(first, now), count, _name(obj, now),
    ]


def _data_count(obj: Mapping[str, Any]) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


_D = _column_definition
_BUILTIN: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Cell]]]] = {
    "pods": (
        [
            _D("Name", "string", _NAME_DESCRIPTION, "name"),
            _D("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
            _D("Status", "string", "The aggregate status of the containers in this pod."),
            _D("Restarts", "string", "The number of times the containers in this pod have been restarted and when "
               "the last container in this pod has restarted."),
            _D("Age", "string", _AGE_DESCRIPTION),
            _D("IP", "string", "IP address allocated to the pod. Routable at least within the cluster.", priority=1),
            _D("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", priority=1),
            _D("Nominated Node", "string", "nominatedNodeName is set when this pod preempts other pods on the "
               "node.", priority=1),
            _D("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod "
               "readiness.", priority=1),
        ],
        _pod_row,
    ),
    "jobs": (
        [
            _D("Name", "string", _NAME_DESCRIPTION, "name"),
            _D("Status", "string", "Status of the job."),
            _D("Completions", "string", "The completion status of the job"),
            _D("Duration", "string", "Time required to complete the job."),
            _D("Age", "string", _AGE_DESCRIPTION),
            _D("Containers", "string", "Names of each container in the template.", priority=1),
            _D("Images", "string", "Images referenced by each container in the template.", priority=1),
            _D("Selector", "string", "A label query over pods that should match the pod count.", priority=1),
        ],
        _job_row,
    ),
    "services": (
        [
            _D("Name", "string", _NAME_DESCRIPTION, "name"),
            _D("Type", "string", "type determines how the Service is exposed."),
            _D("Cluster-IP", "string", "clusterIP is the IP address of the service."),
            _D("External-IP", "string", "List of IP addresses for which nodes in the cluster will also accept "
               "traffic for this service."),
            _D("Port(s)", "string", "The list of ports that are exposed by this service."),
            _D("Age", "string", _AGE_DESCRIPTION),
            _D("Selector", "string", "Route service traffic to pods with label keys and values matching this "
               "selector.", priority=1),
        ],
        _service_row,
    ),
    "configmaps": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Data", "integer", "Number of data entries."),
         _D("Age", "string", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), _data_count(obj), _age(obj, now)],
    ),
    "secrets": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Type", "string", "The type of the secret"),
         _D("Data", "integer", "The number of entries in the secret data"), _D("Age", "string", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), obj.get("type") or "Opaque", _data_count(obj), _age(obj, now)],
    ),
    "namespaces": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Status", "string", "The status of the namespace"),
         _D("Age", "string", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), value_at(obj, "status", "phase") or "Active", _age(obj, now)],
    ),
    "events": (
        [
            _D("Last Seen", "string", "Time when last event from this group was observed."),
            _D("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
            _D("Reason", "string", "Short, machine understandable string that gives the reason for this event."),
            _D("Object", "string", "The object that this event is about."),
            _D("Subobject", "string", "The sub-object that this event is about.", priority=1),
            _D("Source", "string", "The component reporting this event.", priority=1),
            _D("Message", "string", "A human-readable description of the status of this operation."),
            _D("First Seen", "string", "Time when first event from this group was observed.", priority=1),
            _D("Count", "integer", "Number of events in this group.", priority=1),
            _D("Name", "string", _NAME_DESCRIPTION, "name", priority=1),
        ],
        _event_row,
    ),
    "leases": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"),
         _D("Holder", "string", "The holder of the lease."), _D("Age", "string", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), value_at(obj, "spec", "holderIdentity") or "", _age(obj, now)],
    ),
    "serviceaccounts": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Secrets", "integer", "Secrets is a list of the "
         "secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
         _D("Age", "string", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), len(obj.get("secrets") or []), _age(obj, now)],
    ),
    "priorityclasses": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Value", "integer", "The value of this priority "
         "class."), _D("Global-Default", "boolean", "Whether this is the global default."),
         _D("Age", "string", _AGE_DESCRIPTION),
         _D("Preemption Policy", "string", "The preemption policy of this class.", priority=1)],
        lambda obj, now: [_name(obj, now), obj.get("value", 0), bool(obj.get("globalDefault")), _age(obj, now),
                          obj.get("preemptionPolicy") or "PreemptLowerPriority"],
    ),
    "customresourcedefinitions": (
        [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Created At", "date", _AGE_DESCRIPTION)],
        lambda obj, now: [_name(obj, now), value_at(obj, "metadata", "creationTimestamp")],
    ),
}
_DEFAULT_BUILTIN: tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Cell]]] = (
    [_D("Name", "string", _NAME_DESCRIPTION, "name"), _D("Age", "string", _AGE_DESCRIPTION)],
    lambda obj, now: [_name(obj, now), _age(obj, now)],
)


# ---------------------------------------------------------------------------------------------------------------
# The Table
# ---------------------------------------------------------------------------------------------------------------


def _row_object(obj: Mapping[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return dict(obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def to_table(
    resource: str,
    items: list[dict[str, Any]],
    printer_columns: list[dict[str, Any]] | None,
    with_definitions: bool = True,
    *,
    now: datetime | None = None,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """Build a Table for `items` of `resource` (plural).

    `printer_columns` is the served CRD version's additionalPrinterColumns (`[]` → the default Age column) for a
    custom resource, and None for a built-in kind. `include_object` is the request's `includeObject`
    (`Metadata`, `Object`, `None`). The Table's `metadata` is left empty for the caller to fill with the list's
    resourceVersion/continue."""
    moment = now or datetime.now(UTC)
    if printer_columns is not None:
        definitions, cell_fns = _custom_columns(printer_columns)

        def render(obj: Mapping[str, Any]) -> list[Cell]:
            return [fn(obj, moment) for fn in cell_fns]
    else:
        definitions, builtin_row = _BUILTIN.get(resource, _DEFAULT_BUILTIN)

        def render(obj: Mapping[str, Any]) -> list[Cell]:
            return builtin_row(obj, moment)

    rows: list[Row] = []
    for obj in items:
        row: Row = {"cells": render(obj)}
        shown = _row_object(obj, include_object)
        if shown is not None:
            row["object"] = shown
        rows.append(row)
    table: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}}
    if with_definitions:
        table["columnDefinitions"] = [dict(d) for d in definitions]
    table["rows"] = rows
    return table
