"""CEL `x-kubernetes-validations` rules: evaluation, transition rules, messages and failure handling."""

from __future__ import annotations

from typing import Any

from mpi_operator.sandbox.admission.cel import collect_rules, evaluate_validations, rule_compile_errors

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "!has(self.managedBy) || self.managedBy in ['kubeflow.org/mpi-operator', "
                         "'kueue.x-k8s.io/multikueue']",
                 "message": "managedBy must be kubeflow.org/mpi-operator or kueue.x-k8s.io/multikueue"},
                {"rule": "self.launcher.replicas == 1", "fieldPath": ".launcher.replicas"},
                {"rule": "!has(oldSelf.managedBy) || self.managedBy == oldSelf.managedBy",
                 "message": "managedBy is immutable"},
            ],
            "properties": {
                "managedBy": {"type": "string"},
                "slots": {"type": "integer", "x-kubernetes-validations": [
                    {"rule": "self >= 0", "messageExpression": "'slots must be non-negative, got ' + string(self)"}]},
                "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self > 0.5"}]},
                "name": {"type": "string", "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "name is immutable", "reason": "FieldValueForbidden"}]},
                "launcher": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                "workers": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "image": {"type": "string"}},
                        "x-kubernetes-validations": [{"rule": "self.image == oldSelf.image",
                                                      "message": "image is immutable"}],
                    },
                    "x-kubernetes-validations": [{"rule": "self.all(w, w.name.lowerAscii() == w.name)",
                                                  "message": "worker names must be lower case"}],
                },
                "labels": {"type": "object", "additionalProperties": {
                    "type": "string", "x-kubernetes-validations": [{"rule": "self.size() <= 5"}]}},
            },
        }
    },
}


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "pi"},
            "spec": {"launcher": {"replicas": 1}, **spec}}


def test_valid_object_passes_every_rule() -> None:
    assert evaluate_validations(obj(managedBy="kubeflow.org/mpi-operator", slots=2, ratio=1), SCHEMA, None) == []


def test_failed_rule_uses_its_message_without_a_value() -> None:
    assert evaluate_validations(obj(managedBy="someone/else"), SCHEMA, None) == [{
        "reason": "FieldValueInvalid",
        "field": "spec",
        "message": 'Invalid value: managedBy must be kubeflow.org/mpi-operator or kueue.x-k8s.io/multikueue',
    }]


def test_rule_without_message_names_the_rule_at_its_field_path() -> None:
    job = obj()
    job["spec"]["launcher"]["replicas"] = 2
    assert evaluate_validations(job, SCHEMA, None) == [{
        "reason": "FieldValueInvalid",
        "field": "spec.launcher.replicas",
        "message": 'Invalid value: failed rule: self.launcher.replicas == 1',
    }]


def test_message_expression_is_evaluated() -> None:
    causes = evaluate_validations(obj(slots=-1), SCHEMA, None)
    assert causes == [{"reason": "FieldValueInvalid", "field": "spec.slots",
                       "message": 'Invalid value: slots must be non-negative, got -1'}]


def test_integers_in_number_fields_compare_as_doubles() -> None:
    assert evaluate_validations(obj(ratio=1), SCHEMA, None) == []
    assert [c["field"] for c in evaluate_validations(obj(ratio=0), SCHEMA, None)] == ["spec.ratio"]


def test_transition_rules_are_skipped_on_create() -> None:
    assert evaluate_validations(obj(name="a", managedBy="kueue.x-k8s.io/multikueue"), SCHEMA, None) == []


def test_transition_rules_compare_with_the_old_object_on_update() -> None:
    old = obj(name="a", managedBy="kubeflow.org/mpi-operator")
    assert evaluate_validations(obj(name="a", managedBy="kubeflow.org/mpi-operator"), SCHEMA, old) == []
    causes = evaluate_validations(obj(name="b", managedBy="kueue.x-k8s.io/multikueue"), SCHEMA, old)
    assert causes == [
        {"reason": "FieldValueInvalid", "field": "spec", "message": 'Invalid value: managedBy is immutable'},
        {"reason": "FieldValueForbidden", "field": "spec.name", "message": "Forbidden: name is immutable"},
    ]


def test_transition_rule_skipped_when_the_field_is_new_in_the_update() -> None:
    assert evaluate_validations(obj(name="b"), SCHEMA, obj()) == []


def test_list_map_items_correlate_with_old_items_by_key() -> None:
    old = obj(workers=[{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])
    new = obj(workers=[{"name": "b", "image": "changed"}, {"name": "a", "image": "x"}, {"name": "c", "image": "z"}])
    assert evaluate_validations(new, SCHEMA, old) == [{
        "reason": "FieldValueInvalid", "field": "spec.workers[0]",
        "message": 'Invalid value: image is immutable'}]


def test_list_macros_and_string_extensions() -> None:
    causes = evaluate_validations(obj(workers=[{"name": "Upper", "image": "x"}]), SCHEMA, None)
    assert [c["message"] for c in causes] == ['Invalid value: worker names must be lower case']


def test_additional_properties_rules_use_key_paths() -> None:
    causes = evaluate_validations(obj(labels={"ok": "short", "bad": "far too long"}), SCHEMA, None)
    assert causes == [{"reason": "FieldValueInvalid", "field": "spec.labels[bad]",
                       "message": 'Invalid value: failed rule: self.size() <= 5'}]


def test_evaluation_errors_become_causes_not_exceptions() -> None:
    job = obj()
    del job["spec"]["launcher"]
    causes = evaluate_validations(job, SCHEMA, None)
    assert len(causes) == 1
    assert causes[0]["field"] == "spec.launcher.replicas"
    assert causes[0]["reason"] == "FieldValueInvalid"
    assert "self.launcher.replicas == 1: evaluation error" in causes[0]["message"]


def test_uncompilable_and_non_boolean_rules_become_causes() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.replicas =="}, {"rule": "1 + 1"}]}
    causes = evaluate_validations({"replicas": 1}, schema, None)
    assert [c["reason"] for c in causes] == ["FieldValueInvalid", "FieldValueInvalid"]
    assert "rule compile error" in causes[0]["message"]
    assert "did not evaluate to a bool" in causes[1]["message"]
    assert rule_compile_errors(schema)[0][:2] == ("", "self.replicas ==")


def test_optional_old_self_runs_on_create_with_an_empty_optional() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer", "x-kubernetes-validations": [
        {"rule": "!oldSelf.hasValue() || self >= oldSelf.value()", "optionalOldSelf": True,
         "message": "x may only grow"}]}}}
    assert evaluate_validations({"x": 1}, schema, None) == []
    assert evaluate_validations({"x": 1}, schema, {"x": 2})[0]["message"] == 'Invalid value: x may only grow'


def test_collect_rules_lists_every_rule_with_its_path() -> None:
    paths = [path for path, _ in collect_rules(SCHEMA)]
    assert paths == ["spec", "spec", "spec", "spec.slots", "spec.ratio", "spec.name", "spec.workers",
                     "spec.workers[*]", "spec.labels[*]"]
