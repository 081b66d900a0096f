"""The sandbox's HTTP edges as kube-apiserver does them: query values parsed like its parameter codec (400 with
Go's text for bad ones, limit <= 0 = no limit), a 3 MiB body limit answered 413 before parsing, bodies that never
stall other requests, and RFC 7234 Warning headers that kubectl reads."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.wire.body import MAX_REQUEST_BODY_BYTES
from tests.sandbox.conftest import Http, kubectl, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

NS = "/api/v1/namespaces/default"
CMS = f"{NS}/configmaps"
TOO_LARGE = f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}"


async def configmaps(http: Http, count: int, label: str) -> None:
    for _ in range(count):
        r = await http.post(CMS, {"metadata": {"name": unique("cm"), "labels": {"edge": label}}})
        assert r.status == 201


@pytest.mark.parametrize("limit", ["-5", "0", "-9223372036854775808"])
async def test_a_limit_of_zero_or_less_is_no_limit(http: Http, limit: str) -> None:
    label = unique("l")
    await configmaps(http, 3, label)
    r = await http.get(f"{CMS}?labelSelector=edge={label}&limit={limit}")
    assert r.status == 200
    assert len(r.body["items"]) == 3 and "continue" not in r.body["metadata"]


async def test_kubectl_with_a_negative_chunk_size_lists_everything_once(sandbox: Sandbox, kube_home: Path,
                                                                       http: Http) -> None:
    label = unique("l")
    await configmaps(http, 4, label)
    sandbox.requests.reset()
    code, out, err = await kubectl(sandbox, kube_home, "get", "cm", "-l", f"edge={label}", "--chunk-size=-5",
                                   "-o", "name", timeout=20)
    assert code == 0, err
    assert len(out.split()) == 4
    assert sandbox.requests.count("list", "configmaps") == 1


@pytest.mark.parametrize("query, value, why", [
    ("limit", "abc", "invalid syntax"), ("limit", "1.5", "invalid syntax"), ("limit", "1e3", "invalid syntax"),
    ("limit", "99999999999999999999", "value out of range"), ("limit", "", "invalid syntax"),
    ("timeoutSeconds", "abc", "invalid syntax"), ("timeoutSeconds", " 5", "invalid syntax"),
])
async def test_a_bad_integer_in_a_list_is_a_400_with_go_text(http: Http, query: str, value: str, why: str) -> None:
    r = await http.get(f"{CMS}?{query}={value}")
    assert r.status == 400 and r.body["reason"] == "BadRequest"
    assert r.body["message"] == f'strconv.ParseInt: parsing {orjson.dumps(value).decode()}: {why}'


async def test_bad_integers_on_watch_and_delete_are_400_too(http: Http) -> None:
    r = await http.get(f"{CMS}?watch=true&timeoutSeconds=soon")
    assert r.status == 400 and r.body["message"] == 'strconv.ParseInt: parsing "soon": invalid syntax'
    name = unique("cm")
    await http.post(CMS, {"metadata": {"name": name}})
    r = await http.delete(f"{CMS}/{name}?gracePeriodSeconds=now")
    assert r.status == 400 and r.body["message"] == 'strconv.ParseInt: parsing "now": invalid syntax'
    assert (await http.get(f"{CMS}/{name}")).status == 200, "nothing was deleted"


async def test_signed_integers_parse_like_go(http: Http) -> None:
    label = unique("l")
    await configmaps(http, 3, label)
    r = await http.get(f"{CMS}?labelSelector=edge={label}&limit=%2B2")  # "+2"
    assert r.status == 200 and len(r.body["items"]) == 2 and r.body["metadata"]["continue"]


@pytest.mark.parametrize("value, watching", [("true", True), ("1", True), ("yes", True), ("", True),
                                             ("false", False), ("FALSE", False), ("0", False)])
async def test_booleans_read_like_apimachinery(http: Http, value: str, watching: bool) -> None:
    async with http.session.get(f"{http.url}{CMS}?watch={value}&timeoutSeconds=1") as resp:
        body = await resp.read()
    assert resp.status == 200
    if watching:
        assert all(orjson.loads(line)["type"] for line in body.splitlines())
    else:
        assert orjson.loads(body)["kind"] == "ConfigMapList"


async def test_a_negative_watch_timeout_ends_at_once_and_zero_means_the_default(http: Http) -> None:
    started = time.monotonic()
    async with http.session.get(f"{http.url}{CMS}?watch=1&timeoutSeconds=-1") as resp:
        await resp.read()
    assert resp.status == 200 and time.monotonic() - started < 2
    now = (await http.get(CMS)).body["metadata"]["resourceVersion"]
    with pytest.raises(TimeoutError):  # still open when the client gives up
        await http.watch_lines(f"{CMS}?watch=1&timeoutSeconds=0&resourceVersion={now}", 1, timeout=1.5)


async def test_a_continue_token_with_an_offset_outside_the_list_is_refused(http: Http) -> None:
    label = unique("l")
    await configmaps(http, 3, label)
    first = await http.get(f"{CMS}?labelSelector=edge={label}&limit=1")
    token = orjson.loads(base64.urlsafe_b64decode(first.body["metadata"]["continue"]))
    for offset in (-5, 100):
        forged = base64.urlsafe_b64encode(orjson.dumps({**token, "o": offset})).decode()
        r = await http.get(f"{CMS}?labelSelector=edge={label}&limit=1&continue={forged}")
        assert r.status == 400 and "continue key is not valid" in r.body["message"]


async def test_unknown_include_object_and_send_initial_events_on_a_list_are_refused(http: Http) -> None:
    table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    r = await http.get(f"{CMS}?includeObject=Everything", headers=table)
    assert r.status == 400 and r.body["message"] == 'unrecognized includeObject value: "Everything"'
    r = await http.get(f"{CMS}?sendInitialEvents=false")
    assert r.status == 422 and "sendInitialEvents is forbidden for list" in r.body["message"]


def configmap_of(size: int) -> bytes:
    """A ConfigMap create body of exactly `size` bytes."""
    head = orjson.dumps({"metadata": {"name": unique("big")}, "data": {"k": ""}})
    return head[:-3] + b"x" * (size - len(head)) + head[-3:]


async def test_a_body_over_3_mib_is_refused_with_413_before_it_is_read(http: Http, sandbox: Sandbox) -> None:
    r = await http.post(CMS, None, raw=configmap_of(MAX_REQUEST_BODY_BYTES + 1))
    assert r.status == 413
    assert (r.body["reason"], r.body["message"]) == ("RequestEntityTooLarge", TOO_LARGE)
    # At the limit the body is read and judged on its content (a ConfigMap may hold 1 MiB): 422, not 413.
    r = await http.post(CMS, None, raw=configmap_of(MAX_REQUEST_BODY_BYTES))
    assert r.status == 422 and "Too long" in r.body["message"]


async def test_a_chunked_body_over_the_limit_is_refused_while_reading(http: Http) -> None:
    async def chunks() -> object:
        for _ in range(64):
            yield b" " * 65536  # 4 MiB of JSON whitespace, without Content-Length

    async with http.session.post(f"{http.url}{CMS}", data=chunks(),
                                 headers={"Content-Type": "application/json"}) as resp:
        body = orjson.loads(await resp.read())
    assert resp.status == 413 and body["message"] == TOO_LARGE


@pytest.mark.parametrize("method, path, content_type", [
    ("PUT", f"{CMS}/x", "application/json"), ("PATCH", f"{CMS}/x", "application/merge-patch+json"),
    ("PATCH", f"{CMS}/x", "application/apply-patch+yaml"), ("DELETE", f"{CMS}/x", "application/json"),
    ("DELETE", CMS, "application/json"), ("PUT", "/debug/faults", "text/plain"),
])
async def test_every_body_is_limited(http: Http, method: str, path: str, content_type: str) -> None:
    r = await http.request(method, path, raw=b"{" + b" " * MAX_REQUEST_BODY_BYTES + b"}", content_type=content_type)
    assert r.status == 413 and r.body["message"] == TOO_LARGE


async def test_large_bodies_never_stall_other_requests(http: Http, sandbox: Sandbox) -> None:
    """A body near the limit is read and decoded off the event loop: other requests are answered meanwhile.

    Judged against the big request's own duration, not a fixed deadline, so a slow or busy machine (which
    slows both alike) does not fail it: a loop blocked by the decode would hold /healthz for most of it."""
    waits: list[tuple[float, float]] = []  # (started, waited) of every /healthz answer
    done = asyncio.Event()

    async def probe() -> None:
        async with aiohttp.ClientSession() as other:
            while not done.is_set():
                started = time.monotonic()
                async with other.get(f"{sandbox.url}/healthz") as resp:
                    assert resp.status == 200
                waits.append((started, time.monotonic() - started))
                await asyncio.sleep(0.005)

    prober = asyncio.create_task(probe())
    try:
        huge = await http.post(CMS, None, raw=b"{" + b" " * (50 << 20) + b"}")
        assert huge.status == 413
        # Near the limit, as YAML (the slow parser): decoded off the event loop.
        yaml_body = f"metadata: {{name: {unique('yaml')}}}\ndata:\n".encode() + b"".join(
            b"  k%d: v\n" % i for i in range(180_000))
        assert len(yaml_body) < MAX_REQUEST_BODY_BYTES
        sent = time.monotonic()
        r = await http.post(CMS, None, raw=yaml_body, content_type="application/yaml")
        took = time.monotonic() - sent
        assert r.status == 201 and len(r.body["data"]) == 180_000
    finally:
        done.set()
        await prober
    during = [waited for started, waited in waits if sent <= started and started + waited <= sent + took]
    worst = max(waited for _, waited in waits)
    assert len(during) >= 3, f"only {len(during)} /healthz answers during the {took:.2f} s YAML request"
    assert worst < took / 3, f"/healthz waited {worst:.2f} s during a {took:.2f} s request"


async def test_a_yaml_alias_bomb_is_refused_at_once(http: Http) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    bomb = ("\n".join([*lines, "metadata: {name: bomb}"]) + "\n").encode()
    started = time.monotonic()
    r = await http.post(CMS, None, raw=bomb, content_type="application/yaml")
    assert r.status == 400 and r.body["message"].endswith("yaml: document contains excessive aliasing")
    assert time.monotonic() - started < 2


async def test_kubectl_apply_validate_warn_prints_the_warning(sandbox: Sandbox, kube_home: Path,
                                                              tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {unique('warn')}\n  colour: red\n"
                        "data: {a: b}\n")
    code, _, err = await kubectl(sandbox, kube_home, "apply", "--validate=warn", "-f", str(manifest))
    assert code == 0, err
    assert 'Warning: unknown field "metadata.colour"' in err


async def test_pod_log_options_are_parsed_and_the_container_checked(http: Http) -> None:
    name = unique("logs")
    r = await http.post(f"{NS}/pods", {"metadata": {"name": name},
                                      "spec": {"containers": [{"name": "main", "image": "busybox:1"}]}})
    assert r.status == 201
    r = await http.get(f"{NS}/pods/{name}/log?tailLines=ten")
    assert r.status == 400 and r.body["message"] == 'strconv.ParseInt: parsing "ten": invalid syntax'
    r = await http.get(f"{NS}/pods/{name}/log?container=sidecar")
    assert r.status == 400 and r.body["message"] == f"container sidecar is not valid for pod {name}"
