"""Debug endpoints outside the Kubernetes API, for chaos tests and people poking at a running sandbox.

    GET  /debug/faults              -> the current fault settings (JSON)
    PUT  /debug/faults  body: SPEC  -> replace them (same syntax as `--faults`; empty body clears all faults)
    POST /debug/evict?namespace=NS&name=POD -> node-pressure eviction by the simulated kubelet (pod JSON back)
Each handler answers errors as Kubernetes `Status` bodies, like the rest of the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from mpi_operator.sandbox.apiserver.faults import Faults
from mpi_operator.sandbox.errors import ApiError, bad_request

DebugHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), headers={"Content-Type": "application/json"})


def faults_endpoint(faults: Faults) -> DebugHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method in ("PUT", "POST"):
            spec = (await request.text()).strip()
            try:
                faults.replace(spec)
            except ValueError as e:
                raise bad_request(f"invalid fault spec: {e}") from e
        elif request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "use GET to read the faults and PUT to replace them")
        return _json(faults.settings())

    return handle


def evict_endpoint(evict: Callable[[str, str], dict[str, Any]]) -> DebugHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", "use POST to evict a pod")
        namespace, name = request.query.get("namespace", "default"), request.query.get("name", "")
        if not name:
            raise bad_request("the query parameter name (the pod) is required")
        return _json(evict(namespace, name))

    return handle
