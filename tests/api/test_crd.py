"""The MPIJob CRD: committed file up to date, accepted by kubectl, structural, upstream-shaped, admits the examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel
from kubernetes_asyncio.client import models

from mpi_operator.api import openapi_schema
from mpi_operator.api.crd import crd_manifest, crd_yaml
from tests.conftest import REPO, examples_dir

CRD_FILE = REPO / "manifests" / "base" / "kubeflow.org_mpijobs.yaml"
EXAMPLES = sorted(examples_dir().glob("*.yaml"))
Schema = dict[str, Any]


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return crd_manifest()


@pytest.fixture(scope="module")
def schema(crd: dict[str, Any]) -> Schema:
    version: dict[str, Any] = crd["spec"]["versions"][0]
    root: Schema = version["schema"]["openAPIV3Schema"]
    return root


def at(schema: Schema, path: str) -> Schema:
    """The schema node at a dotted path; `[]` steps into list items, `{}` into map values."""
    node = schema
    for step in path.split("."):
        name, suffix = re.fullmatch(r"([^\[{]*)((?:\[\]|\{\})*)", step).groups()  # type: ignore[union-attr]
        if name:
            node = node["properties"][name]
        for marker in re.findall(r"\[\]|\{\}", suffix):
            node = node["items"] if marker == "[]" else node["additionalProperties"]
    return node


# --- A small structural validator: what the API server checks with the OpenAPI keywords (no CEL). ---

INT32 = (-(2**31), 2**31 - 1)


def validate(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Field errors of `value` against a structural schema; unknown fields count as errors (they would be pruned)."""
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: want int or string, got {value!r}"]
        if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
            return [f"{path}: {value!r} does not match {schema['pattern']}"]
        return []
    errors = _type_errors(value, schema, path)
    if errors:
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path)
    if isinstance(value, list):
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{index}]")
        if schema.get("x-kubernetes-list-type") == "map":
            keys = [tuple(item.get(k) for k in schema["x-kubernetes-list-map-keys"]) for item in value]
            if len(keys) != len(set(keys)):
                errors.append(f"{path}: duplicate list-map keys {keys}")
    return errors


def _type_errors(value: Any, schema: Schema, path: str) -> list[str]:
    kind = schema["type"]
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
    }[kind]
    if not ok:
        return [f"{path}: want {kind}, got {value!r}"]
    if kind == "integer" and schema.get("format") == "int32" and not INT32[0] <= value <= INT32[1]:
        return [f"{path}: {value} out of int32 range"]
    return []


def _object_errors(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    errors = [f"{path}.{name}: required" for name in schema.get("required", []) if name not in value]
    if path == ".metadata":
        return errors  # the API server validates ObjectMeta itself
    properties = schema.get("properties", {})
    for name, item in value.items():
        if item is None:
            continue  # the API server prunes nulls of fields that are not nullable (none of ours is)
        if name in properties:
            errors += validate(item, properties[name], f"{path}.{name}")
        elif isinstance(schema.get("additionalProperties"), dict):
            errors += validate(item, schema["additionalProperties"], f"{path}.{name}")
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            errors.append(f"{path}.{name}: unknown field")
    return errors


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


# --- The committed file and kubectl ---


def test_committed_manifest_is_generated_from_the_code() -> None:
    assert CRD_FILE.read_text() == crd_yaml(), f"{CRD_FILE.relative_to(REPO)} is stale: run `make manifests`"


def test_yaml_output_is_deterministic() -> None:
    assert crd_yaml() == crd_yaml()
    assert "&id" not in crd_yaml(), "no YAML anchors: each node is written out"


def test_manifest_fits_client_side_apply(crd: dict[str, Any]) -> None:
    """`kubectl apply` (client side) stores the object in an annotation, limited to 256 KiB in total."""
    assert len(json.dumps(crd, separators=(",", ":"))) < 200 * 1024


class _Discovery(BaseHTTPRequestHandler):
    """Just enough discovery for kubectl to map a CustomResourceDefinition (client dry-run needs a REST mapping)."""

    DOCUMENTS: dict[str, Any] = {
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
        "/apis": {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": "apiextensions.k8s.io",
                    "versions": [{"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"},
                }
            ],
        },
        "/apis/apiextensions.k8s.io/v1": {
            "kind": "APIResourceList",
            "groupVersion": "apiextensions.k8s.io/v1",
            "resources": [
                {
                    "name": "customresourcedefinitions",
                    "singularName": "customresourcedefinition",
                    "namespaced": False,
                    "kind": "CustomResourceDefinition",
                    "verbs": ["create", "get", "list"],
                }
            ],
        },
    }

    def do_GET(self) -> None:
        document = self.DOCUMENTS.get(self.path.split("?")[0])
        body = json.dumps(document or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if document else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def discovery_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_kubectl_client_dry_run_accepts_the_manifest(
    discovery_server: str, crd: dict[str, Any], tmp_path: Path
) -> None:
    kubectl = Path(sys.executable).parent / "kubectl"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "--server", discovery_server,
         "create", "--dry-run=client", "--validate=false", "-o", "json", "-f", str(CRD_FILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == crd


# --- The CRD object itself ---


def _model_errors(value: Any, type_name: str, path: str) -> list[str]:
    """Field names of `value` against a kubernetes_asyncio model (walked lazily: JSONSchemaProps is recursive)."""
    if (match := re.fullmatch(r"list\[(.+)\]", type_name)) and isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _model_errors(item, match.group(1), f"{path}[{i}]")]
    if (match := re.fullmatch(r"dict\(str, (.+)\)", type_name)) and isinstance(value, dict):
        return [e for k, item in value.items() for e in _model_errors(item, match.group(1), f"{path}.{k}")]
    if not hasattr(models, type_name):
        return []
    model = getattr(models, type_name)
    if not isinstance(value, dict):
        return [f"{path}: want {type_name}"]
    by_json = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    errors = [f"{path}.{name}: not a field of {type_name}" for name in value if name not in by_json]
    for name, item in value.items():
        if name in by_json:
            errors += _model_errors(item, by_json[name], f"{path}.{name}")
    return errors


def test_crd_uses_only_fields_of_the_apiextensions_v1_types(crd: dict[str, Any]) -> None:
    assert _model_errors(crd, "V1CustomResourceDefinition", "") == []


def test_crd_names_scope_version_and_subresources(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "mpijobs.kubeflow.org"
    assert spec["group"] == "kubeflow.org"
    assert spec["names"] == {
        "kind": "MPIJob", "listKind": "MPIJobList", "plural": "mpijobs", "singular": "mpijob", "shortNames": ["mpij"]
    }
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v2beta1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns_show_state_workers_and_age(crd: dict[str, Any]) -> None:
    columns = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["State"]["jsonPath"] == ".status.state"
    assert columns["Workers"] == {"name": "Workers", "type": "integer",
                                  "jsonPath": ".spec.mpiReplicaSpecs.Worker.replicas"}
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def test_schema_is_structural(schema: Schema) -> None:
    for path, node in walk(schema):
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            assert "type" not in node, path
            continue
        assert "type" in node, f"{path}: no type"
        assert "anyOf" not in node and "uniqueItems" not in node, path
        if node["type"] == "object":
            assert not {"properties", "additionalProperties"} <= node.keys(), f"{path}: both kinds of properties"
            assert {"properties", "additionalProperties", "x-kubernetes-preserve-unknown-fields"} & node.keys() or (
                path == ".metadata"
            ), f"{path}: object without properties"
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{path}: array without items"
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []) or "default" in item["properties"][key], f"{path}: {key}"
        for value in (node.get("default"), *node.get("enum", [])):
            if value is not None:
                assert validate(value, {k: v for k, v in node.items() if k not in ("enum", "default")}) == [], path


# --- Pod template: upstream's types at upstream's paths ---

LAUNCHER = "spec.mpiReplicaSpecs{}.template"
CONTAINER = f"{LAUNCHER}.spec.containers[]"
QUANTITY_PATHS = [
    f"{CONTAINER}.resources.limits{{}}",
    f"{CONTAINER}.resources.requests{{}}",
    f"{LAUNCHER}.spec.initContainers[].resources.limits{{}}",
    f"{LAUNCHER}.spec.overhead{{}}",
    f"{LAUNCHER}.spec.volumes[].emptyDir.sizeLimit",
    f"{CONTAINER}.env[].valueFrom.resourceFieldRef.divisor",
    "spec.runPolicy.schedulingPolicy.minResources{}",
]
INT_OR_STRING_PATHS = [
    f"{CONTAINER}.readinessProbe.tcpSocket.port",
    f"{CONTAINER}.livenessProbe.httpGet.port",
    f"{CONTAINER}.lifecycle.preStop.httpGet.port",
]
FORMATS = {
    f"{CONTAINER}.ports[].containerPort": "int32",
    f"{CONTAINER}.securityContext.runAsUser": "int64",
    f"{LAUNCHER}.spec.securityContext.fsGroup": "int64",
    f"{LAUNCHER}.spec.securityContext.supplementalGroups[]": "int64",
    f"{LAUNCHER}.spec.terminationGracePeriodSeconds": "int64",
    f"{LAUNCHER}.spec.activeDeadlineSeconds": "int64",
    f"{LAUNCHER}.spec.tolerations[].tolerationSeconds": "int64",
    f"{CONTAINER}.readinessProbe.periodSeconds": "int32",
    f"{LAUNCHER}.spec.volumes[].secret.defaultMode": "int32",
    "spec.slotsPerWorker": "int32",
    "spec.runPolicy.activeDeadlineSeconds": "int64",
    "status.startTime": "date-time",
}
LIST_MAPS = {
    f"{LAUNCHER}.spec.containers": ["name"],
    f"{LAUNCHER}.spec.initContainers": ["name"],
    f"{LAUNCHER}.spec.volumes": ["name"],
    f"{CONTAINER}.ports": ["containerPort", "protocol"],
    f"{CONTAINER}.env": ["name"],
    f"{CONTAINER}.volumeMounts": ["mountPath"],
    f"{LAUNCHER}.spec.topologySpreadConstraints": ["topologyKey", "whenUnsatisfiable"],
    "status.conditions": ["type"],
}


@pytest.mark.parametrize("path", QUANTITY_PATHS)
def test_quantities_are_int_or_string_with_the_quantity_pattern(schema: Schema, path: str) -> None:
    node = at(schema, path)
    assert node["x-kubernetes-int-or-string"] is True
    assert node["pattern"] == openapi_schema.QUANTITY_PATTERN
    assert validate(1, node) == validate("500m", node) == validate("1Gi", node) == []
    assert validate("lots", node) != []


@pytest.mark.parametrize("path", INT_OR_STRING_PATHS)
def test_probe_ports_are_int_or_string(schema: Schema, path: str) -> None:
    assert at(schema, path) == {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}


@pytest.mark.parametrize(("path", "fmt"), FORMATS.items())
def test_number_and_time_formats_match_the_go_types(schema: Schema, path: str, fmt: str) -> None:
    assert at(schema, path)["format"] == fmt


@pytest.mark.parametrize(("path", "keys"), LIST_MAPS.items())
def test_keyed_lists_are_list_maps(schema: Schema, path: str, keys: list[str]) -> None:
    node = at(schema, path)
    assert node["x-kubernetes-list-type"] == "map"
    assert node["x-kubernetes-list-map-keys"] == keys


def test_pod_template_keeps_upstream_markers(schema: Schema) -> None:
    assert at(schema, f"{CONTAINER}.command")["x-kubernetes-list-type"] == "atomic"
    assert at(schema, f"{CONTAINER}.ports[].protocol")["default"] == "TCP"
    assert at(schema, f"{CONTAINER}.ports[]")["required"] == ["containerPort"]
    assert at(schema, f"{CONTAINER}")["required"] == ["name"]
    assert at(schema, f"{CONTAINER}.env[].valueFrom.secretKeyRef")["x-kubernetes-map-type"] == "atomic"
    assert at(schema, f"{LAUNCHER}.spec.nodeSelector")["x-kubernetes-map-type"] == "atomic"
    assert at(schema, f"{LAUNCHER}.spec")["required"] == ["containers"]


def test_embedded_metadata_has_only_the_fields_the_api_server_keeps(schema: Schema) -> None:
    expected = {"annotations", "finalizers", "labels", "name", "namespace"}
    assert set(at(schema, f"{LAUNCHER}.metadata")["properties"]) == expected
    claim = at(schema, f"{LAUNCHER}.spec.volumes[].ephemeral.volumeClaimTemplate.metadata")
    assert set(claim["properties"]) == expected


def test_every_free_form_python_client_field_in_the_pod_is_classified() -> None:
    """`object` in the python client is IntOrString or free JSON: a new one must be sorted into the table."""
    seen: set[str] = set()
    unclassified = []

    def visit(model_name: str) -> None:
        if model_name in seen or model_name == "V1ObjectMeta":
            return
        seen.add(model_name)
        model = getattr(models, model_name)
        for attribute, type_name in model.openapi_types.items():
            json_name = model.attribute_map[attribute]
            if type_name == "object" and (model_name, json_name) not in openapi_schema.INT_OR_STRING_FIELDS:
                unclassified.append((model_name, json_name))
            for name in re.findall(r"\w*V1\w+", type_name):
                visit(name)

    visit("V1PodTemplateSpec")
    assert unclassified == []


# --- The MPIJob part: defaults, enums, admission rules ---


def test_schema_defaults_match_upstream_and_decisions(schema: Schema) -> None:
    assert at(schema, "spec.slotsPerWorker")["default"] == 1
    assert at(schema, "spec.runLauncherAsWorker")["default"] is False
    assert at(schema, "spec.sshAuthMountPath")["default"] == "/root/.ssh"
    assert at(schema, "spec.launcherCreationPolicy")["default"] == "AtStartup"
    assert at(schema, "spec.mpiImplementation")["default"] == "OpenMPI"
    assert at(schema, "spec.runPolicy.suspend")["default"] is False
    # Decision Q4: the controller's default; the schema must not say otherwise.
    assert at(schema, "spec.runPolicy.cleanPodPolicy").get("default", "Running") == "Running"


def test_enumerated_fields_carry_their_enums(schema: Schema) -> None:
    assert at(schema, "spec.mpiImplementation")["enum"] == ["OpenMPI", "Intel", "MPICH"]
    assert at(schema, "spec.launcherCreationPolicy")["enum"] == ["AtStartup", "WaitForWorkersReady"]
    assert at(schema, "spec.runPolicy.cleanPodPolicy")["enum"] == ["None", "Running", "All"]
    assert at(schema, "spec.runPolicy.managedBy")["enum"] == ["kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue"]
    assert set(at(schema, "spec.mpiReplicaSpecs{}.restartPolicy")["enum"]) >= {"Never", "OnFailure"}
    assert at(schema, "status.conditions[].status")["enum"] == ["True", "False", "Unknown"]


def test_required_fields(schema: Schema) -> None:
    assert at(schema, "spec")["required"] == ["mpiReplicaSpecs"]
    assert at(schema, "status.conditions[]")["required"] == ["status", "type"]


@pytest.mark.parametrize(
    "path",
    ["spec.slotsPerWorker", "spec.runPolicy.ttlSecondsAfterFinished", "spec.runPolicy.activeDeadlineSeconds",
     "spec.runPolicy.backoffLimit", "spec.mpiReplicaSpecs{}.replicas"],
)
def test_counts_must_not_be_negative_but_zero_passes(schema: Schema, path: str) -> None:
    node = at(schema, path)
    assert validate(-1, node) != []
    assert validate(0, node) == []


def test_cel_rules_cover_replicas_and_managed_by_immutability(schema: Schema) -> None:
    replica_rules = " ".join(r["rule"] for r in at(schema, "spec.mpiReplicaSpecs")["x-kubernetes-validations"])
    assert "self.Launcher.replicas == 1" in replica_rules
    assert "self.Worker.replicas >= 1" in replica_rules
    (immutable,) = at(schema, "spec")["x-kubernetes-validations"]
    assert "oldSelf.runPolicy.managedBy" in immutable["rule"]
    assert "immutable" in immutable["message"]
    assert at(schema, "spec.runPolicy.managedBy")["maxLength"] == 63


def rule_holds(node: Schema, message_word: str, value: Any, old: Any = None) -> bool:
    """Evaluate the CEL rule of `node` whose message contains `message_word`, as the API server would."""
    (rule,) = [r["rule"] for r in node["x-kubernetes-validations"] if message_word in r["message"]]
    environment = celpy.Environment()
    activation = {"self": json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = json_to_cel(old)
    return bool(environment.program(environment.compile(rule)).evaluate(activation))


@pytest.mark.parametrize(
    ("specs", "ok"),
    [
        ({"Launcher": {"replicas": 1}, "Worker": {"replicas": 2}}, True),
        ({"Launcher": {}, "Worker": {}}, True),  # omitted replicas are defaulted later (1 and 1, decision Q5)
        ({"Worker": {"replicas": 1}}, True),  # a missing Launcher is the controller's validation error
        ({"Launcher": {"replicas": 2}}, False),
        ({"Launcher": {"replicas": 0}}, False),
    ],
)
def test_cel_launcher_replicas_must_be_one(schema: Schema, specs: dict[str, Any], ok: bool) -> None:
    assert rule_holds(at(schema, "spec.mpiReplicaSpecs"), "Launcher", specs) is ok


@pytest.mark.parametrize(
    ("specs", "ok"),
    [
        ({"Launcher": {"replicas": 1}}, True),
        ({"Launcher": {"replicas": 1}, "Worker": {}}, True),
        ({"Launcher": {"replicas": 1}, "Worker": {"replicas": 1}}, True),
        ({"Launcher": {"replicas": 1}, "Worker": {"replicas": 0}}, False),
    ],
)
def test_cel_worker_replicas_at_least_one(schema: Schema, specs: dict[str, Any], ok: bool) -> None:
    assert rule_holds(at(schema, "spec.mpiReplicaSpecs"), "Worker", specs) is ok


OURS, KUEUE = "kubeflow.org/mpi-operator", "kueue.x-k8s.io/multikueue"


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        ({}, {}, True),
        ({"runPolicy": {"managedBy": KUEUE}}, {"runPolicy": {"managedBy": KUEUE, "suspend": True}}, True),
        ({"runPolicy": {"suspend": True}}, {"runPolicy": {"suspend": False}}, True),
        ({"runPolicy": {"managedBy": KUEUE}}, {"runPolicy": {"managedBy": OURS}}, False),
        ({"runPolicy": {"managedBy": KUEUE}}, {"runPolicy": {}}, False),
        ({"runPolicy": {"managedBy": KUEUE}}, {}, False),
        ({}, {"runPolicy": {"managedBy": OURS}}, False),
    ],
)
def test_cel_managed_by_is_immutable(schema: Schema, old: dict[str, Any], new: dict[str, Any], ok: bool) -> None:
    assert rule_holds(at(schema, "spec"), "immutable", new, old) is ok


# --- Real MPIJobs ---


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_schema_accepts_every_example(schema: Schema, path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert validate(document, schema) == []


def test_schema_rejects_wrong_types_and_values(schema: Schema) -> None:
    document = yaml.safe_load(EXAMPLES[0].read_text())
    spec = document["spec"]
    spec["mpiImplementation"] = "LAM"
    spec["slotsPerWorker"] = "one"
    spec["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "x"}}
    errors = validate(document, schema)
    assert any(".spec.mpiImplementation" in e for e in errors)
    assert any(".spec.slotsPerWorker" in e for e in errors)
    assert any("limits.cpu" in e for e in errors)
