"""The HTTP face of the sandbox: Kubernetes REST paths, discovery, content negotiation and watch streaming.

Each request is parsed into (verb, resource, namespace, name, subresource), recorded in the request log, passed
through the fault hooks and served from the store; every failure leaves as a `Status` JSON body. Watches are
chunked streams of one JSON event per line whose headers are flushed before the first event.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from mpi_operator.sandbox.admission.write_options import WriteOptions
from mpi_operator.sandbox.apiserver import debug, openapi
from mpi_operator.sandbox.apiserver.accounting import RequestLog, client_id
from mpi_operator.sandbox.apiserver.changes import BOOKMARK, ERROR, Change
from mpi_operator.sandbox.apiserver.faults import Faults
from mpi_operator.sandbox.apiserver.resources import (
    AGGREGATED_CONTENT_TYPE,
    ResourceInfo,
    aggregated_discovery,
    wants_aggregated_discovery,
)
from mpi_operator.sandbox.apiserver.storage import Obj, Storage
from mpi_operator.sandbox.apiserver.watch import Watcher, WatchOverflow
from mpi_operator.sandbox.errors import ApiError, bad_request, expired, invalid, success_status
from mpi_operator.sandbox.timefmt import now_rfc3339
from mpi_operator.sandbox.wire import protobuf, query
from mpi_operator.sandbox.wire.body import MAX_REQUEST_BODY_BYTES, decode, read_body, too_large
from mpi_operator.sandbox.wire.selectors import SelectorError, parse_field_selector, parse_label_selector
from mpi_operator.sandbox.wire.table import to_table

log = logging.getLogger(__name__)

VERSION = {"major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
           "minCompatibilityMajor": "1", "minCompatibilityMinor": "36", "gitVersion": "v1.37.0-sandbox",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-08-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
           "platform": "linux/amd64"}
JSON = "application/json"
EXPIRED_CONTINUE = ("The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter.")

EvictionHook = Callable[[Storage, str, str, dict[str, Any]], Awaitable[None] | None]
LogHook = Callable[[Obj, dict[str, str]], str]


@dataclass
class Route:
    verb: str
    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None


class ApiServer:
    def __init__(self, store: Storage, requests: RequestLog | None = None, faults: Faults | None = None,
                 bookmark_interval: float = 60.0) -> None:
        self.store = store
        self.requests = requests or RequestLog()
        self.faults = faults or Faults()
        self.bookmark_interval = bookmark_interval
        self.disconnect_check = 5.0  # seconds between checks that an idle watch's client is still connected
        self.eviction_hook: EvictionHook | None = None
        self.log_hook: LogHook | None = None
        self._pages: OrderedDict[str, tuple[str, list[Obj]]] = OrderedDict()
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self.server_address = "127.0.0.1:0"
        # Paths outside the Kubernetes API (any method); the simulated cluster adds /debug/evict.
        self.debug_handlers: dict[str, debug.DebugHandler] = {"/debug/faults": debug.faults_endpoint(self.faults)}

    def app(self) -> web.Application:
        # Bodies are read by body.read_body, which answers a Status; this bound covers any other read.
        app = web.Application(client_max_size=MAX_REQUEST_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as e:
            return self._error(e)
        except web.HTTPRequestEntityTooLarge:
            return self._error(too_large())
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # every failure must still be a Status body
            log.exception("unexpected failure serving %s %s", request.method, request.path)
            return self._error(ApiError(500, "InternalError", f"Internal error occurred: {e}",
                                        {"causes": [{"message": str(e)}]}))

    def _error(self, e: ApiError) -> web.Response:
        headers = {"Content-Type": JSON, **e.headers}
        return web.Response(status=e.code, body=orjson.dumps(e.status()), headers=headers)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path in self.debug_handlers:
            return await self.debug_handlers[path](request)
        if path == "/debug/requests" and request.method == "DELETE":
            self.requests.reset()  # benchmarks against a sandbox process start their count here
            return self._json(self.requests.as_json())
        if request.method == "GET":
            simple = self._simple_get(path, parts, request.headers.get("Accept", ""))
            if simple is not None:
                return simple
        if not parts or parts[0] not in ("api", "apis"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[0] == "api":
            if len(parts) < 2:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 3:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            group, version, rest = parts[1], parts[2], parts[3:]
        route = self._route(request, group, version, rest)
        ns_label = route.namespace or ""
        # Subresources are accounted apart (`jobs.batch/status`): RBAC grants them apart.
        accounted = route.info.key + (f"/{route.subresource}" if route.subresource else "")
        self.requests.record(route.verb, accounted, ns_label, client_id(request.headers.get("User-Agent", "")))
        await self.faults.before_request(route.verb, route.info.key)
        response = await self._serve(request, route)
        if route.verb != "watch":
            await self.faults.after_request(route.verb, route.info.key)
        return response

    def _simple_get(self, path: str, parts: list[str], accept: str = "") -> web.StreamResponse | None:
        reg = self.store.registry
        if path in ("/api", "/apis") and wants_aggregated_discovery(accept):
            # The content type alone tells client-go which format the body is in.
            return web.Response(body=orjson.dumps(aggregated_discovery(reg, core=path == "/api")),
                                headers={"Content-Type": AGGREGATED_CONTENT_TYPE})
        if path == "/version":
            return self._json(VERSION)
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/debug/requests":
            return self._json(self.requests.as_json())
        if path == "/api":
            return self._json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}]})
        if path == "/apis":
            return self._json(reg.api_group_list())
        if path == "/openapi/v3":
            return self._json(openapi.index(reg))
        if parts[:2] == ["openapi", "v3"] and len(parts) >= 4:
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) > 4 else "")
            doc = openapi.document(reg, group, version)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._json(doc)
        if len(parts) == 2 and parts[0] == "api":
            found = reg.resource_list("", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            found = reg.api_group(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            found = reg.resource_list(parts[1], parts[2])
        else:
            return None
        if found is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self._json(found)

    def _route(self, request: web.Request, group: str, version: str, rest: list[str]) -> Route:
        watch_prefix = bool(rest) and rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        info = self.store.registry.lookup(group, version, plural)
        if info is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub is not None and sub not in info.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not info.namespaced and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        method = request.method
        q = request.query
        watching = watch_prefix or bool(query.boolean(q, "watch"))
        if name is None:
            verb = {"GET": "watch" if watching else "list", "POST": "create",
                    "DELETE": "deletecollection"}.get(method)
        else:
            verb = {"GET": "watch" if watching else "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                    "POST": "create"}.get(method)
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if info.namespaced and namespace is None and verb not in ("list", "watch"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Route(verb, info, namespace, name, sub)

    # ------------------------------------------------------------------ serving

    async def _serve(self, request: web.Request, r: Route) -> web.StreamResponse:
        info = r.info
        mode = self._negotiate(request.headers.get("Accept", ""))
        if r.verb == "watch":
            return await self._watch(request, r, mode)
        if r.verb == "list":
            return self._list(request, r, mode)
        if r.verb == "get":
            assert r.name is not None
            if r.subresource == "log":
                return await self._pod_log(request, r)
            if r.subresource not in (None, "status"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            obj = self.store.get(info, r.namespace, r.name)
            if mode == "table":
                return self._json(self._table(info, [obj], True, self.store.resource_version,
                                              _include_object(request.query)))
            return self._json(obj)
        opts = self._write_options(request)
        if r.verb == "create":
            body = await self._body(request)
            if r.name is not None:
                return await self._create_subresource(request, r, body, opts)
            obj = self.store.create(info, r.namespace, body, opts, copy_body=False)
            return self._json(obj, 201, opts.warnings)
        if r.verb == "update":
            assert r.name is not None
            if r.subresource not in (None, "status"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            body = await self._body(request)
            obj = self.store.update(info, r.namespace, r.name, body, r.subresource, opts, copy_body=False)
            return self._json(obj, 200, opts.warnings)
        if r.verb == "patch":
            assert r.name is not None
            if r.subresource not in (None, "status"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            ctype = request.headers.get("Content-Type", "")
            from mpi_operator.sandbox.wire.patch_types import patch_kind

            kind = patch_kind(ctype)
            patch = await decode(await read_body(request), "error decoding patch", yaml_allowed=kind == "apply")
            obj, created = self.store.patch(info, r.namespace, r.name, kind, patch, r.subresource, opts)
            return self._json(obj, 201 if created else 200, opts.warnings)
        if r.verb == "delete":
            assert r.name is not None
            options = await self._delete_options(request)
            obj, removed = self.store.delete(info, r.namespace, r.name, options, opts)
            if removed and not info.returns_deleted_object:
                meta = obj["metadata"]
                return self._json(success_status({"name": meta["name"], "group": info.group, "kind": info.plural,
                                                  "uid": meta["uid"]}))
            return self._json(obj)
        if r.verb == "deletecollection":
            options = await self._delete_options(request)
            matcher = self._matcher(request, info)
            items, _ = self.store.list(info, r.namespace, matcher)
            deleted = []
            for item in items:
                try:
                    obj, _removed = self.store.delete(info, item["metadata"].get("namespace"),
                                                      item["metadata"]["name"], options, opts)
                    deleted.append(obj)
                except ApiError as e:
                    if e.code != 404:
                        raise
            return self._json(self._list_body(info, deleted, self.store.resource_version))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    async def _create_subresource(self, request: web.Request, r: Route, body: Obj,
                                  opts: WriteOptions) -> web.StreamResponse:
        assert r.name is not None
        if r.info.key == "pods" and r.subresource == "eviction":
            pod = self.store.get(r.info, r.namespace, r.name)
            delete_options = dict(body.get("deleteOptions") or {})
            if self.eviction_hook is not None:
                result = self.eviction_hook(self.store, r.namespace or "", r.name, delete_options)
                if result is not None:
                    await result
            else:
                self._default_eviction(pod, delete_options)
            return self._json(success_status({"name": r.name, "kind": "pods"}) | {"code": 201}, 201)
        if r.info.key == "pods" and r.subresource == "binding":
            target = (body.get("target") or {}).get("name")
            if not target:
                raise invalid("Binding", "", r.name, [{"reason": "FieldValueRequired", "message": "Required value",
                                                       "field": "target.name"}])
            pod = self.store.get(r.info, r.namespace, r.name)
            if (pod.get("spec") or {}).get("nodeName"):
                raise ApiError(409, "Conflict", f"Operation cannot be fulfilled on pods/binding \"{r.name}\": pod "
                               f"{r.name} is already assigned to node \"{pod['spec']['nodeName']}\"")
            self.store.patch(r.info, r.namespace, r.name, "merge", {"spec": {"nodeName": target}})
            return self._json(success_status({}) | {"code": 201}, 201)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _default_eviction(self, pod: Obj, delete_options: dict[str, Any]) -> None:
        """API-initiated eviction without a PodDisruptionBudget: mark DisruptionTarget, then graceful delete."""
        meta = pod["metadata"]
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") !=
                      "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                           "message": "Eviction API: evicting", "lastTransitionTime": now_rfc3339(),
                           "lastProbeTime": None})
        self.store.patch("pods", meta["namespace"], meta["name"], "merge", {"status": {"conditions": conditions}},
                         "status")
        self.store.delete("pods", meta["namespace"], meta["name"], delete_options)

    async def _pod_log(self, request: web.Request, r: Route) -> web.StreamResponse:
        assert r.name is not None
        pod = self.store.get(r.info, r.namespace, r.name)
        q = request.query
        for number in ("tailLines", "sinceSeconds", "limitBytes"):
            query.int64(q, number)  # PodLogOptions: a bad number is a 400, as on a real server
        container = q.get("container")
        spec = pod.get("spec") or {}
        names = {c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
                 for c in spec.get(key) or []}
        if container and container not in names:
            raise bad_request(f"container {container} is not valid for pod {r.name}")
        if self.log_hook is not None:
            return web.Response(text=self.log_hook(pod, dict(request.query)), content_type="text/plain")
        return await self._kubelet_log(pod, dict(request.query))

    async def _kubelet_log(self, pod: Obj, params: dict[str, str]) -> web.StreamResponse:
        """As kube-apiserver: ask the kubelet of the pod's node (its InternalIP and kubelet port) for the log."""
        name, spec = pod["metadata"]["name"], pod.get("spec") or {}
        containers = [c.get("name", "") for c in spec.get("containers") or []]
        container = params.pop("container", "") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                              f"[{' '.join(containers)}]")
        node = self.store.find("nodes", None, spec.get("nodeName") or "") if spec.get("nodeName") else None
        status = (node or {}).get("status") or {}
        address = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                       None)
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        if node is None or not address or not port:
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: no node serves its '
                              "logs")
        url = f"https://{address}:{port}/containerLogs/{pod['metadata']['namespace']}/{name}/{container}"
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    url, params=params, ssl=False, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise bad_request(body.decode(errors="replace").strip() or f"kubelet answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ApiError(500, "InternalError", f"Get \"{url}\": {e}") from e
        return web.Response(body=body, content_type="text/plain")

    # ------------------------------------------------------------------ list / watch

    def _matcher(self, request: web.Request, info: ResourceInfo) -> _Matcher | None:
        q = request.query
        try:
            labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
            resource = info.plural if not info.custom and info.group in ("", "batch") else info.key
            fields = parse_field_selector(q["fieldSelector"], resource, info.selectable_fields) \
                if q.get("fieldSelector") else None
        except SelectorError as e:
            raise bad_request(str(e)) from e
        if labels is None and fields is None:
            return None
        return _Matcher(labels, fields)

    def _list(self, request: web.Request, r: Route, mode: str) -> web.StreamResponse:
        q = request.query
        info = r.info
        rv, match, cont = q.get("resourceVersion", ""), q.get("resourceVersionMatch", ""), q.get("continue", "")
        # k8s.io/apiserver pages only when limit > 0: zero and negative limits mean "everything, one page".
        limit = max(query.int64(q, "limit") or 0, 0)
        query.int64(q, "timeoutSeconds")  # parsed (a bad one is 400) though a list has no use for it
        self._check_list_options(rv, match, cont, q)
        matcher = self._matcher(request, info)
        if cont:
            list_rv, items, offset = self._page_from_token(cont)
        else:
            current = int(self.store.resource_version)
            if rv not in ("", "0"):
                want = self.store.parse_rv(rv)
                if want > current:
                    raise ApiError(504, "Timeout", f"Too large resource version: {want}, current: {current}",
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}], "retryAfterSeconds": 1})
                if (match == "Exact" or (limit > 0 and not match)) and want != current:
                    raise expired(f"too old resource version: {want} ({current})")
            items, list_rv = self.store.list(info, r.namespace, matcher)
            offset = 0
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        self.faults.note_list(list_rv)
        page = items[offset:]
        if limit and len(page) > limit:
            page = page[:limit]
            meta["continue"] = self._page_token(list_rv, items, offset + limit)
            if matcher is None:
                meta["remainingItemCount"] = len(items) - offset - limit
        if mode == "table":
            table = self._table(info, page, True, list_rv, _include_object(q))
            table["metadata"] = meta
            return self._json(table)
        body = self._list_body(info, page, list_rv)
        body["metadata"] = meta
        return self._json(body)

    def _check_list_options(self, rv: str, match: str, cont: str, q: Any) -> None:
        def bad(field: str, message: str) -> ApiError:
            return invalid("ListOptions", "meta.k8s.io", "", [{"reason": "FieldValueInvalid", "message": message,
                                                               "field": field}])
        if match:
            if match not in ("Exact", "NotOlderThan"):
                raise bad("resourceVersionMatch", f'Unsupported value: "{match}": supported values: "Exact", '
                          '"NotOlderThan", ""')
            if not rv:
                raise bad("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden unless "
                          "resourceVersion is provided")
            if cont:
                raise bad("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden when continue is "
                          "provided")
            if match == "Exact" and rv == "0":
                raise bad("resourceVersionMatch", 'Forbidden: resourceVersionMatch "exact" is forbidden for '
                          'resourceVersion "0"')
        if cont and rv not in ("", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        if q.get("sendInitialEvents") is not None:
            raise bad("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list")

    def _page_token(self, list_rv: str, items: list[Obj], offset: int) -> str:
        key = secrets.token_hex(8)
        self._pages[key] = (list_rv, items)
        while len(self._pages) > 64:
            self._pages.popitem(last=False)
        return base64.urlsafe_b64encode(orjson.dumps({"k": key, "o": offset, "rv": list_rv})).decode()

    def _page_from_token(self, token: str) -> tuple[str, list[Obj], int]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
            key, offset = str(data["k"]), int(data["o"])
        except (ValueError, KeyError, TypeError) as e:
            raise bad_request(f"invalid continue token: continue key is not valid: {e}") from e
        snap = self._pages.get(key)
        if snap is None:
            raise expired(EXPIRED_CONTINUE)
        if not 0 <= offset <= len(snap[1]):
            # Only a hand-made token gets here; a page must never step backwards, or clients page forever.
            raise bad_request(f"invalid continue token: continue key is not valid: offset {offset} is outside "
                              "the list")
        return snap[0], snap[1], offset

    def _list_body(self, info: ResourceInfo, items: list[Obj], list_rv: str) -> dict[str, Any]:
        if not info.custom:
            # Items of built-in lists carry no kind/apiVersion on a real server.
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": {"resourceVersion": list_rv},
                "items": items}

    async def _watch(self, request: web.Request, r: Route, mode: str) -> web.StreamResponse:
        options = _watch_options(request.query)
        watcher, error = self._open_watcher(r, options, self._matcher(request, r.info))
        stream = _WatchStream(self, r.info, mode, options, self.store.resource_version,
                              len(watcher.queue) if (watcher is not None and options.initial_events) else -1)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if watcher is None:
            assert error is not None
            await resp.write(orjson.dumps({"type": ERROR, "object": error.status()}) + b"\n")
            await resp.write_eof()
            return resp
        task = asyncio.current_task()
        if task is not None:
            self._watch_tasks.add(task)
        try:
            if not await self._stream(request, resp, watcher, stream):
                return resp  # the client went away, or the connection was cut on purpose
        except WatchOverflow:
            log.info("closing watch on %s: consumer too slow", r.info.key)
        except ConnectionResetError:
            return resp  # the client went away; nothing left to send
        finally:
            watcher.close()
            if task is not None:
                self._watch_tasks.discard(task)
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    def _open_watcher(self, r: Route, options: _WatchOptions, matcher: _Matcher | None
                      ) -> tuple[Watcher | None, ApiError | None]:
        """The watcher, or the 410 the stream must carry as its one ERROR event (other errors raise)."""
        if self.faults.expires(options.rv):
            return None, expired(f"too old resource version: {options.rv} (forced by fault injection)")
        try:
            # Watch-list with a resourceVersion still starts with the current state (a consistent "now" >= RV).
            start_rv = None if options.initial_events else options.rv
            return self.store.watch(r.info, r.namespace, start_rv, matcher), None
        except ApiError as e:
            if e.code != 410:
                raise
            return None, e

    async def _stream(self, request: web.Request, resp: web.StreamResponse, watcher: Watcher,
                      stream: _WatchStream) -> bool:
        """Send changes until the watch's lifetime ends (True: end the body cleanly) or the client leaves."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + stream.options.timeout
        cut_midline = False
        if self.faults.watch_cut_seconds > 0:
            cut_midline = self.faults.watch_cut_midline and loop.time() + self.faults.watch_cut_seconds < deadline
            deadline = min(deadline, loop.time() + self.faults.watch_cut_seconds)
        bookmarks = stream.options.bookmarks
        next_bookmark = loop.time() + self.bookmark_interval
        if stream.initial_count == 0 and bookmarks:
            await resp.write(stream.initial_end())
        while (now := loop.time()) < deadline:
            # Wake at least every few seconds to notice a client that went away while nothing happened.
            wait = min(deadline, next_bookmark if bookmarks else deadline, now + self.disconnect_check) - now
            ev = await watcher.next(max(wait, 0.0))
            if ev is not None:
                # Send everything already queued in one chunk: far fewer syscalls under load.
                if chunk := stream.encode([ev, *watcher.drain(255)], watcher):
                    await resp.write(chunk)
                continue
            if request.transport is None or request.transport.is_closing():
                return False
            if bookmarks and loop.time() >= next_bookmark and not watcher.queue:
                await resp.write(self._bookmark(stream.info, self.store.resource_version, False))
                next_bookmark = loop.time() + self.bookmark_interval
        if cut_midline:
            # Fault injection: the connection drops inside an event line and the chunked body never ends.
            line = watcher.queue[0].line() if watcher.queue else self._bookmark(stream.info, stream.initial_rv, False)
            await resp.write(line[:len(line) // 2])
            if request.transport is not None:
                request.transport.close()
            return False
        if bookmarks and not watcher.queue:
            await resp.write(self._bookmark(stream.info, self.store.resource_version, False))
        return True

    def _bookmark(self, info: ResourceInfo, rv: str, initial_end: bool) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return orjson.dumps({"type": BOOKMARK, "object": {"kind": info.kind, "apiVersion": info.api_version,
                                                          "metadata": meta}}) + b"\n"

    async def close_watches(self) -> None:
        for task in list(self._watch_tasks):
            task.cancel()

    # ------------------------------------------------------------------ helpers

    def _table(self, info: ResourceInfo, items: list[Obj], with_definitions: bool, rv: str,
               include_object: str = "Metadata") -> dict[str, Any]:
        resource = info.plural if not info.custom and info.group in ("", "batch") else info.key
        columns = (info.printer_columns or []) if info.custom else None
        table = to_table(resource, items, columns, with_definitions, include_object=include_object)
        table.setdefault("metadata", {})["resourceVersion"] = rv
        return table

    @staticmethod
    def _negotiate(accept: str) -> str:
        """'json' or 'table'; 406 when nothing acceptable is offered (contract §1.6)."""
        if not accept.strip():
            return "json"
        for item in accept.split(","):
            media, *raw_params = [p.strip() for p in item.split(";")]
            params = dict(p.split("=", 1) for p in raw_params if "=" in p)
            if media not in (JSON, "*/*", "application/*"):
                continue
            as_ = params.get("as")
            if as_ == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
                return "table"
            if as_ and as_ != "Table":
                continue
            if not as_:
                return "json"
        raise ApiError(406, "NotAcceptable", f"only the following media types are accepted: {JSON}, "
                       "application/json;as=Table;v=v1;g=meta.k8s.io")

    @staticmethod
    def _json(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict({"Content-Type": JSON})
        for value in warning_headers(warnings or []):
            headers.add("Warning", value)
        return web.Response(status=status, body=orjson.dumps(obj), headers=headers)

    @staticmethod
    async def _body(request: web.Request) -> Obj:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == protobuf.PROTOBUF:
            try:
                return protobuf.decode(await read_body(request))
            except protobuf.ProtobufError as e:
                raise ApiError(415, "UnsupportedMediaType", str(e)) from e
        if ctype not in ("", JSON, "application/yaml", "*/*"):
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                           f"accepted media types include: {JSON}, application/yaml")
        body = await decode(await read_body(request), "the body of the request could not be decoded")
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        return body

    @staticmethod
    def _write_options(request: web.Request) -> WriteOptions:
        q = request.query
        dry = q.getall("dryRun", [])
        if any(d != "All" for d in dry):
            raise bad_request(f"invalid dry run option: {dry}")
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise bad_request(f"fieldValidation must be one of Ignore, Warn, Strict; got {validation}")
        return WriteOptions(dry_run=bool(dry), field_validation=validation, field_manager=q.get("fieldManager", ""),
                            force=bool(query.boolean(q, "force")), prune_builtin=True)

    @staticmethod
    async def _delete_options(request: web.Request) -> dict[str, Any]:
        q = request.query
        options: dict[str, Any] = {}
        raw = await read_body(request)
        if raw.strip():
            body = await decode(raw, "invalid DeleteOptions", yaml_allowed=False)
            if isinstance(body, dict):
                options.update({k: v for k, v in body.items() if k not in ("kind", "apiVersion")})
        grace = query.int64(q, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        orphan = query.boolean(q, "orphanDependents")
        if orphan is not None:
            options["orphanDependents"] = orphan
        if q.getall("dryRun", []):
            options["dryRun"] = ["All"]
        return options


# kube-apiserver's limits on Warning headers (k8s.io/apiserver pkg/endpoints/filters/warning.go).
_WARNINGS_TOTAL_RUNES = 4 * 1024
_WARNING_TRUNCATED_RUNES = 256


def warning_headers(warnings: list[str]) -> list[str]:
    """RFC 7234 `Warning` values as kube-apiserver writes them: code 299, agent "-", the text quoted with `\\`
    and `"` escaped (so `unknown field "spec.x"` reaches kubectl intact), duplicates dropped; past 4096 characters
    in all, every text is cut to 256 characters, and the texts beyond the total are dropped."""
    texts = list(dict.fromkeys(w.replace("\r", " ").replace("\n", " ") for w in warnings if w))
    if sum(map(len, texts)) > _WARNINGS_TOTAL_RUNES:
        kept, total = [], 0
        for text in (t[:_WARNING_TRUNCATED_RUNES] for t in texts):
            if total >= _WARNINGS_TOTAL_RUNES:
                break
            kept.append(text)
            total += len(text)
        texts = kept
    return ['299 - "' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts]


@dataclass(frozen=True)
class _WatchOptions:
    rv: str | None
    initial_events: bool
    bookmarks: bool
    include_object: str
    timeout: float  # seconds


def _watch_options(q: query.Query) -> _WatchOptions:
    """A watch's query, checked as kube-apiserver checks it: each value parsed, then how they combine."""
    initial_events = bool(query.boolean(q, "sendInitialEvents"))
    bookmarks = bool(query.boolean(q, "allowWatchBookmarks"))
    include_object = _include_object(q)
    # As kube-apiserver: unset or 0 picks the default lifetime; a negative value ends the watch at once.
    timeout_seconds = query.int64(q, "timeoutSeconds") or 0
    match = q.get("resourceVersionMatch", "")
    if q.get("sendInitialEvents") is not None:
        if match != "NotOlderThan":
            raise invalid("ListOptions", "meta.k8s.io", "", [{
                "reason": "FieldValueForbidden", "field": "resourceVersionMatch", "message":
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"}])
    elif match:
        raise invalid("ListOptions", "meta.k8s.io", "", [{
            "reason": "FieldValueForbidden", "field": "resourceVersionMatch",
            "message": "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                       "provided"}])
    return _WatchOptions(rv=q.get("resourceVersion") or None, initial_events=initial_events, bookmarks=bookmarks,
                         include_object=include_object,
                         timeout=float(timeout_seconds) if timeout_seconds else random.uniform(1800, 3600))


class _WatchStream:
    """How one watch response encodes its events: as JSON lines or Table rows (the column definitions once),
    with the initial-events-end bookmark after the `initial_count`-th event of a watch-list."""

    def __init__(self, server: ApiServer, info: ResourceInfo, mode: str, options: _WatchOptions, initial_rv: str,
                 initial_count: int) -> None:
        self.server = server
        self.info = info
        self.mode = mode
        self.options = options
        self.initial_rv = initial_rv
        self.initial_count = initial_count  # -1: no initial-events-end bookmark is owed
        self.sent = 0
        self.first_table = True

    def initial_end(self) -> bytes:
        self.initial_count = -1
        return self.server._bookmark(self.info, self.initial_rv, True)

    def encode(self, changes: list[Change], watcher: Watcher) -> bytes:
        chunk: list[bytes] = []
        for change in changes:
            self.sent += 1
            out = watcher.transform(change)
            if out is not None:
                chunk.append(self._line(change, *out))
            if self.sent == self.initial_count and self.options.bookmarks:
                chunk.append(self.initial_end())
        return b"".join(chunk)

    def _line(self, change: Change, etype: str, obj: Obj) -> bytes:
        if self.mode == "table":
            table = self.server._table(self.info, [obj], self.first_table, obj["metadata"].get("resourceVersion", ""),
                                       self.options.include_object)
            self.first_table = False
            return orjson.dumps({"type": etype, "object": table}) + b"\n"
        if etype == change.type and obj is change.object:
            return change.line()  # unchanged by the selector: the stored line as it was encoded once
        return orjson.dumps({"type": etype, "object": obj}) + b"\n"


def _include_object(q: query.Query) -> str:
    value = q.get("includeObject", "") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise bad_request(f"unrecognized includeObject value: {orjson.dumps(value).decode()}")
    return value


class _Matcher:
    """Label and field selectors combined into the `matches(obj)` predicate the store and watchers use."""

    def __init__(self, labels: Any, fields: Any) -> None:
        self.labels = labels
        self.fields = fields

    def matches(self, obj: Obj) -> bool:
        if self.labels is not None and not self.labels.matches(obj["metadata"].get("labels") or {}):
            return False
        return self.fields is None or bool(self.fields.matches(obj))
