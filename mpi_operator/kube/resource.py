"""Typed handles on one kind of API object: URL building and the verbs, over plain JSON dicts.

`ResourceType` names a resource (group, version, plural, scope, kind); `Resource` binds it to a `Client`.
Retry safety per verb is decided here, where the verb's semantics are known (see `Client.request`).
"""

from __future__ import annotations

import builtins
import random
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from mpi_operator.kube.errors import TransportError
from mpi_operator.kube.watchstream import WatchEvent, decode_events

if TYPE_CHECKING:
    from mpi_operator.kube.client import Client

PatchType = Literal["merge", "json", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


PODS = ResourceType("", "v1", "pods", True, "Pod")
SERVICES = ResourceType("", "v1", "services", True, "Service")
CONFIGMAPS = ResourceType("", "v1", "configmaps", True, "ConfigMap")
SECRETS = ResourceType("", "v1", "secrets", True, "Secret")
EVENTS = ResourceType("", "v1", "events", True, "Event")
NAMESPACES = ResourceType("", "v1", "namespaces", False, "Namespace")
JOBS = ResourceType("batch", "v1", "jobs", True, "Job")
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", True, "Lease")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class Resource:
    """The verbs on one resource type. Objects in and out are plain dicts; errors are `errors.ApiError`s."""

    def __init__(self, client: Client, rtype: ResourceType) -> None:
        self.client = client
        self.type = rtype

    def __repr__(self) -> str:
        return f"Resource({self.type.api_version}/{self.type.plural})"

    def _ns(self, namespace: str | None) -> str | None:
        if self.type.namespaced and not namespace:
            raise ValueError(f"{self.type.plural} is namespaced: a namespace is required")
        return namespace if self.type.namespaced else None

    async def get(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        path = self.type.path(self._ns(namespace), name)
        result: dict[str, Any] = await self.client.request("GET", path)
        return result

    async def list(self, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> dict[str, Any]:
        """One page of a list (namespace None = all namespaces); the answer's `metadata.continue` pages on."""
        params = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
                  "continue": continue_, "resourceVersion": resource_version}
        result: dict[str, Any] = await self.client.request("GET", self.type.path(namespace), params=params)
        if result.get("items") is None:
            result["items"] = []
        return result

    async def list_all(self, namespace: str | None = None, *, label_selector: str | None = None,
                       field_selector: str | None = None, page_size: int = 500
                       ) -> tuple[builtins.list[dict[str, Any]], str]:
        """Every item, following continue tokens; returns the items and the list's resourceVersion."""
        items: builtins.list[dict[str, Any]] = []
        token: str | None = None
        resource_version = ""
        while True:
            page = await self.list(namespace, label_selector=label_selector, field_selector=field_selector,
                                   limit=page_size, continue_=token)
            for item in page["items"]:
                # Built-in list items carry no kind/apiVersion on a real server; fill them for uniformity.
                item.setdefault("apiVersion", self.type.api_version)
                if self.type.kind:
                    item.setdefault("kind", self.type.kind)
                items.append(item)
            meta = page.get("metadata") or {}
            resource_version = resource_version or str(meta.get("resourceVersion") or "")
            token = meta.get("continue") or None
            if not token:
                return items, resource_version

    async def watch(self, namespace: str | None = None, *, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    allow_bookmarks: bool = True, timeout_seconds: int | None = None
                    ) -> AsyncGenerator[WatchEvent, None]:
        """Events of one watch request until the server ends it (no resume: that is the informer's job)."""
        if timeout_seconds is None:
            timeout_seconds = random.randint(300, 600)  # like client-go: spread re-watches of many clients
        params = {"watch": True, "resourceVersion": resource_version, "labelSelector": label_selector,
                  "fieldSelector": field_selector, "allowWatchBookmarks": allow_bookmarks,
                  "timeoutSeconds": timeout_seconds}
        async with self.client.stream(self.type.path(namespace), params, read_timeout=timeout_seconds + 30) as resp:
            try:
                async for event in decode_events(resp.content.iter_any()):
                    yield event
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransportError(f"watch {self.type.plural}: stream broken: {exc!r}") from exc

    async def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """POST. Retried on 5xx/transport only with a fixed name: a repeat can then never make a second object
        (it answers AlreadyExists, which callers of a level-based controller treat as 'already there')."""
        ns = namespace or _meta(obj).get("namespace")
        named = bool(_meta(obj).get("name"))
        result: dict[str, Any] = await self.client.request(
            "POST", self.type.path(self._ns(ns)), body=obj, retry_5xx=named)
        return result

    async def update(self, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        """PUT the whole object (its metadata.resourceVersion is the optimistic-lock precondition)."""
        meta = _meta(obj)
        path = self.type.path(self._ns(meta.get("namespace")), str(meta["name"]), subresource)
        # With a resourceVersion a repeated PUT that already applied answers 409 instead of writing twice.
        result: dict[str, Any] = await self.client.request(
            "PUT", path, body=obj, retry_5xx=bool(meta.get("resourceVersion")))
        return result

    async def update_status(self, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.update(obj, subresource="status")

    async def patch(self, name: str, patch: Any, namespace: str | None = None, *, type: PatchType = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> dict[str, Any]:
        """PATCH with merge (default; the only one CRs accept besides json/apply), json, strategic or apply."""
        path = self.type.path(self._ns(namespace), name, subresource)
        params = {"fieldManager": field_manager, "force": force}
        # JSON patches may append to lists: applying one twice is not the same as once, so no 5xx retry.
        result: dict[str, Any] = await self.client.request(
            "PATCH", path, params=params, body=patch, content_type=PATCH_CONTENT_TYPES[type],
            retry_5xx=type != "json")
        return result

    async def patch_status(self, name: str, patch: Any, namespace: str | None = None, *,
                           type: PatchType = "merge") -> dict[str, Any]:
        return await self.patch(name, patch, namespace, type=type, subresource="status")

    async def delete(self, name: str, namespace: str | None = None, *, propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None, preconditions: dict[str, str] | None = None
                     ) -> dict[str, Any] | None:
        """DELETE; answers the object (pods, objects held by finalizers) or a Status."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        result: dict[str, Any] | None = await self.client.request(
            "DELETE", self.type.path(self._ns(namespace), name), body=body)
        return result
