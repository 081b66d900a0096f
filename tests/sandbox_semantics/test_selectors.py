"""Label and field selector grammar and matching, as the API server applies them to list/watch."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpi_operator.sandbox.wire.selectors import (
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "pi", "tier": "worker", "index": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=pi", True),
        ("app==pi", True),
        ("app=other", False),
        ("app!=other", True),
        ("app!=pi", False),
        ("missing!=x", True),
        ("app in (pi, other)", True),
        ("app in (other)", False),
        ("missing in (x)", False),
        ("app notin (other)", True),
        ("app notin (pi)", False),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("index>2", True),
        ("index>3", False),
        ("index<4", True),
        ("app>1", False),
        ("missing<4", False),
        ("app=pi,tier=worker", True),
        ("app=pi, tier=launcher", False),
        ("  app = pi ,  tier in ( worker ) ", True),
        ("training.kubeflow.org/job-role!=launcher", True),
        ("missing=", False),
    ],
)
def test_label_selector_grammar(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


def test_equality_with_empty_value_matches_empty_label() -> None:
    assert parse_label_selector("role=").matches({"role": ""})


def test_empty_label_selector_matches_objects_without_labels() -> None:
    assert parse_label_selector("").matches(None)
    assert parse_label_selector("").empty


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app=pi,", "expected: identifier after ','"),
        ("=pi", "expected: !, identifier, or 'end of string'"),
        ("app in pi", "expected: '('"),
        ("app in ()", "values set can't be empty"),
        ("app pi", "expected: in, notin, =, ==, !=, gt, lt"),
        ("index>x", "the value must be an integer"),
        ("app=a b", "expected: ',' or 'end of string'"),
        ("app=-bad-", "Invalid value"),
        ("bad key!=x", "expected: in, notin"),
        ("!app=x", "expected: ',' or 'end of string'"),
        ("-app=x", "Invalid value"),
    ],
)
def test_label_selector_syntax_errors_name_the_problem(selector: str, message: str) -> None:
    with pytest.raises(SelectorError, match=re.escape(message)) as err:
        parse_label_selector(selector)
    assert isinstance(err.value, ValueError)


def test_label_selector_renders_back_to_its_grammar() -> None:
    text = "app=pi,tier in (b,a),!gone,index>2"
    assert str(parse_label_selector(text)) == "app=pi,tier in (a,b),!gone,index>2"


def test_structured_selector_converts_match_labels_and_expressions() -> None:
    selector = label_selector_from_dict(
        {
            "matchLabels": {"app": "pi"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["worker", "launcher"]},
                {"key": "index", "operator": "Exists"},
                {"key": "paused", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "paused": "true"})
    assert not selector.matches({**LABELS, "tier": "other"})


def test_empty_structured_selector_matches_everything_and_nil_matches_nothing() -> None:
    assert label_selector_from_dict({}).matches({})
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).matches(LABELS)
    assert not label_selector_from_dict(None).matches(LABELS)


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
    ],
)
def test_invalid_structured_selectors_are_rejected(selector: dict[str, Any]) -> None:
    with pytest.raises(SelectorError):
        label_selector_from_dict(selector)


POD: dict[str, Any] = {
    "metadata": {"name": "pi-worker-0", "namespace": "default"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Never", "schedulerName": "default-scheduler"},
    "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}]},
}

EVENT: dict[str, Any] = {
    "metadata": {"name": "pi.1234", "namespace": "default"},
    "involvedObject": {"kind": "MPIJob", "name": "pi", "namespace": "default", "uid": "u-1",
                       "apiVersion": "kubeflow.org/v2beta1"},
    "reason": "MPIJobCreated",
    "type": "Normal",
    "source": {"component": "mpi-job-controller"},
}


@pytest.mark.parametrize(
    ("resource", "obj", "selector", "expected"),
    [
        ("pods", POD, "", True),
        ("pods", POD, "metadata.name=pi-worker-0", True),
        ("pods", POD, "metadata.name==pi-worker-1", False),
        ("pods", POD, "metadata.namespace!=kube-system", True),
        ("pods", POD, "spec.nodeName=node-1,status.phase=Running", True),
        ("pods", POD, "status.phase!=Running", False),
        ("pods", POD, "spec.restartPolicy=Never", True),
        ("pods", POD, "spec.schedulerName=default-scheduler", True),
        ("pods", POD, "spec.serviceAccountName=", True),
        ("pods", POD, "status.podIP=10.0.0.7", True),
        ("pods", POD, "spec.hostNetwork=false", True),
        ("events", EVENT, "involvedObject.name=pi,involvedObject.kind=MPIJob,involvedObject.uid=u-1", True),
        ("events", EVENT, "involvedObject.namespace=other", False),
        ("events", EVENT, "reason=MPIJobCreated,type=Normal", True),
        ("events", EVENT, "source=mpi-job-controller", True),
        ("jobs", {"metadata": {"name": "j"}, "status": {"succeeded": 1}}, "status.successful=1", True),
        ("jobs", {"metadata": {"name": "j"}, "status": {}}, "status.successful=0", True),
        ("secrets", {"metadata": {"name": "s"}, "type": "Opaque"}, "type=Opaque", True),
        ("namespaces", {"metadata": {"name": "ns"}, "status": {"phase": "Active"}}, "status.phase=Active", True),
        ("mpijobs", {"metadata": {"name": "pi", "namespace": "default"}}, "metadata.name=pi", True),
    ],
)
def test_field_selector_matches_per_resource_fields(
    resource: str, obj: dict[str, Any], selector: str, expected: bool
) -> None:
    assert parse_field_selector(selector, resource).matches(obj) is expected


def test_field_selector_values_may_escape_commas_and_equals() -> None:
    obj = {"metadata": {"name": "a,b=c"}}
    assert parse_field_selector(r"metadata.name=a\,b\=c", "configmaps").matches(obj)


def test_field_selector_exposes_pinned_name() -> None:
    selector = parse_field_selector("metadata.name=pi,status.phase!=Failed", "pods")
    assert selector.exact("metadata.name") == "pi"
    assert selector.exact("status.phase") is None


def test_unknown_field_on_custom_resource_lists_the_supported_ones() -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector("spec.slotsPerWorker=1", "mpijobs")
    assert str(err.value) == '"spec.slotsPerWorker" is not a known field selector: only "metadata.name", ' \
        '"metadata.namespace"'


def test_unknown_field_on_builtin_with_field_table_is_not_supported() -> None:
    with pytest.raises(SelectorError, match=re.escape("field label not supported: spec.containers")):
        parse_field_selector("spec.containers=x", "pods")


def test_crd_selectable_fields_extend_custom_resource_fields() -> None:
    selector = parse_field_selector("spec.color=red", "widgets", extra_fields=[".spec.color"])
    assert selector.matches({"metadata": {"name": "w"}, "spec": {"color": "red"}})


@pytest.mark.parametrize("selector", ["metadata.name", r"metadata.name=a\x", "metadata.name=a=b"])
def test_malformed_field_selectors_are_rejected(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_field_selector(selector, "pods")


_KEYS = st.sampled_from(["app", "tier", "training.kubeflow.org/job-role", "index"])
_VALUES = st.sampled_from(["pi", "worker", "launcher", "3", "a.b-c_d"])
_REQUIREMENTS = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _KEYS, _VALUES),
    st.builds(lambda k, v: f"{k}!={v}", _KEYS, _VALUES),
    st.builds(lambda k, vs: f"{k} in ({','.join(vs)})", _KEYS, st.lists(_VALUES, min_size=1, max_size=3)),
    st.builds(lambda k, vs: f"{k} notin ({','.join(vs)})", _KEYS, st.lists(_VALUES, min_size=1, max_size=3)),
    st.builds(lambda k: k, _KEYS),
    st.builds(lambda k: f"!{k}", _KEYS),
    st.builds(lambda n: f"index>{n}", st.integers(-5, 5)),
)


@given(st.lists(_REQUIREMENTS, max_size=4), st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_rendered_selector_parses_back_to_the_same_meaning(terms: list[str], labels: dict[str, str]) -> None:
    selector = parse_label_selector(",".join(terms))
    again = parse_label_selector(str(selector))
    assert again.matches(labels) == selector.matches(labels)
