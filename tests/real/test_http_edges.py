"""The API server's HTTP edges on both grounds: bad query values, negative limits, the request body limit and
Warning headers. tests/sandbox/test_http_edges.py holds the sandbox to these answers in detail; this file checks
that they are the answers kube-apiserver itself gives, so the sandbox cannot drift from it unseen."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import ApiError
from tests.real.ground import Ground

LIMIT = 3 * 1024 * 1024  # kube-apiserver's --max-request-body-bytes default (and the sandbox's)


async def failure(api: Client, method: str, path: str, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await api.request(method, path, **kwargs)  # type: ignore[arg-type]
    return caught.value


def configmap_of(name: str, size: int) -> bytes:
    """A ConfigMap whose JSON body is exactly `size` bytes."""
    head = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": ""}})
    return head[:-3] + b"x" * (size - len(head)) + head[-3:]


async def test_a_limit_of_zero_or_less_lists_everything(api: Client, namespace: str, ground: Ground) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(3):
        await api.request("POST", cms, body={"metadata": {"name": f"cm-{i}", "labels": {"edge": "limit"}}})
    for limit in ("-5", "0"):
        listed = await api.request("GET", cms, params={"labelSelector": "edge=limit", "limit": limit})
        assert len(listed["items"]) == 3 and not listed["metadata"].get("continue"), (ground.name, limit)
    done = ground.kubectl("get", "cm", "-n", namespace, "-l", "edge=limit", "--chunk-size=-5", "-o", "name",
                          timeout=20)
    assert sorted(done.stdout.split()) == [f"configmap/cm-{i}" for i in range(3)]


@pytest.mark.parametrize("query, value, why", [
    ("limit", "abc", "invalid syntax"), ("limit", "1.5", "invalid syntax"),
    ("limit", "99999999999999999999", "value out of range"), ("timeoutSeconds", "abc", "invalid syntax"),
])
async def test_a_bad_integer_in_a_query_is_a_400_naming_the_value(api: Client, namespace: str, query: str,
                                                                  value: str, why: str) -> None:
    error = await failure(api, "GET", f"/api/v1/namespaces/{namespace}/configmaps", params={query: value})
    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message == f'strconv.ParseInt: parsing "{value}": {why}'


async def test_bad_integers_on_watch_and_delete_are_400_and_delete_nothing(api: Client, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    error = await failure(api, "GET", cms, params={"watch": "true", "timeoutSeconds": "soon"})
    assert (error.code, error.message) == (400, 'strconv.ParseInt: parsing "soon": invalid syntax')
    await api.request("POST", cms, body={"metadata": {"name": "kept"}})
    error = await failure(api, "DELETE", f"{cms}/kept", params={"gracePeriodSeconds": "now"})
    assert (error.code, error.message) == (400, 'strconv.ParseInt: parsing "now": invalid syntax')
    assert (await api.request("GET", f"{cms}/kept"))["metadata"]["name"] == "kept"


async def test_a_body_over_3_mib_is_413_and_at_3_mib_it_is_judged_on_content(api: Client, namespace: str) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    error = await failure(api, "POST", cms, body=configmap_of("big", LIMIT + 1))
    assert (error.code, error.reason) == (413, "RequestEntityTooLarge")
    assert error.message == f"Request entity too large: limit is {LIMIT}"
    error = await failure(api, "POST", cms, body=configmap_of("big", LIMIT))
    assert error.code == 422 and "Too long" in error.message


async def test_kubectl_apply_validate_warn_prints_the_warning(ground: Ground, namespace: str, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warn\n  colour: red\ndata: {a: b}\n")
    done = ground.kubectl("apply", "-n", namespace, "--validate=warn", "-f", str(manifest))
    assert 'Warning: unknown field "metadata.colour"' in done.stderr
