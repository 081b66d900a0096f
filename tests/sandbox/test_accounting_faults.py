"""Request accounting and fault injection (issue 3 item 4; checklist 74-75)."""

from __future__ import annotations

import time

import pytest
from kubernetes_asyncio import client

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.apiserver.faults import Faults
from tests.sandbox.conftest import Http, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_requests_are_counted_by_verb_resource_namespace_client(sandbox: Sandbox, http: Http,
                                                                      api: client.ApiClient) -> None:
    sandbox.requests.reset()
    await http.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": unique("acct")}})
    await http.get("/api/v1/namespaces/default/configmaps")
    await client.CoreV1Api(api).list_namespaced_pod("kube-system")
    assert sandbox.requests.count(verb="create", resource="configmaps", namespace="default") == 1
    assert sandbox.requests.count(verb="list", resource="configmaps") == 1
    assert sandbox.requests.count(verb="list", resource="pods", namespace="kube-system") == 1
    assert sandbox.requests.total == 3
    debug = (await http.get("/debug/requests")).body
    assert debug["total"] == 3
    assert {"verb": "list", "resource": "pods", "namespace": "kube-system", "client": "OpenAPI-Generator",
            "count": 1} in debug["requests"]
    reset = await http.delete("/debug/requests")
    assert reset.status == 200 and reset.body["total"] == 0 and sandbox.requests.total == 0


async def test_429_fault_carries_retry_after(sandbox: Sandbox, http: Http) -> None:
    sandbox.faults.error_rate, sandbox.faults.error_code, sandbox.faults.verbs = 1.0, 429, {"create"}
    try:
        r = await http.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": unique("f")}})
        assert r.status == 429 and r.body["reason"] == "TooManyRequests" and r.body["code"] == 429
        assert r.headers["Retry-After"] == "1" and r.body["details"]["retryAfterSeconds"] == 1
        assert (await http.get("/api/v1/namespaces/default/configmaps")).status == 200
    finally:
        sandbox.faults.error_rate, sandbox.faults.verbs = 0.0, set()


async def test_500_fault_is_a_status_body(sandbox: Sandbox, http: Http) -> None:
    sandbox.faults.error_rate, sandbox.faults.error_code, sandbox.faults.resources = 1.0, 500, {"secrets"}
    try:
        r = await http.get("/api/v1/namespaces/default/secrets")
        assert r.status == 500 and r.body["reason"] == "InternalError" and r.body["kind"] == "Status"
    finally:
        sandbox.faults.error_rate, sandbox.faults.resources = 0.0, set()


async def test_forced_410_and_watch_cut(sandbox: Sandbox, http: Http) -> None:
    rv = sandbox.store.resource_version
    sandbox.faults.expire_watches = True
    try:
        events, _ = await http.watch_lines(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}", 2)
        assert [e["type"] for e in events] == ["ERROR"] and events[0]["object"]["code"] == 410
    finally:
        sandbox.faults.expire_watches = False
    sandbox.faults.watch_cut_seconds = 0.3
    try:
        t0 = time.monotonic()
        events, _ = await http.watch_lines(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}", 100)
        assert time.monotonic() - t0 < 2
    finally:
        sandbox.faults.watch_cut_seconds = 0.0


async def test_fault_spec_parses() -> None:
    f = Faults.parse("error=0.1,error_code=429,latency=0.05,watch_cut=10,expire_watches=1,verbs=create|update")
    assert (f.error_rate, f.error_code, f.latency, f.watch_cut_seconds, f.expire_watches) == (0.1, 429, 0.05, 10, True)
    assert f.verbs == {"create", "update"}
    with pytest.raises(ValueError):
        Faults.parse("nope=1")
