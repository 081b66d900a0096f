"""Cluster DNS as hosts entries: the names a pod resolves for the pods behind headless Services.

Pure. A pod with `spec.hostname` H and `spec.subdomain` S in namespace N is published as
`H.S.N.svc.<domain>` (and the short forms the DNS search path would complete: `H.S.N.svc`, `H.S.N`,
`H.S`) when a headless Service S in N selects it, it has an IP, and it is Ready — or the Service has
`publishNotReadyAddresses` — as CoreDNS answers from the Service's EndpointSlices.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mpi_operator.nodeagent.runtime import HostEntry

JSON = dict[str, Any]


def _ready(pod: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _selects(service: JSON, pod: JSON) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def names(hostname: str, subdomain: str, namespace: str, domain: str) -> tuple[str, ...]:
    base = f"{hostname}.{subdomain}"
    return (f"{base}.{namespace}.svc.{domain}", f"{base}.{namespace}.svc", f"{base}.{namespace}", base)


def published(pods: Iterable[JSON], services: Iterable[JSON], domain: str) -> list[HostEntry]:
    """Entries for every pod of one namespace that its headless Service publishes."""
    headless = {s["metadata"]["name"]: s for s in services if (s.get("spec") or {}).get("clusterIP") == "None"}
    entries = []
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        service = headless.get(spec.get("subdomain") or "")
        ip = status.get("podIP")
        if service is None or not ip or not spec.get("hostname") or not _selects(service, pod):
            continue
        if status.get("phase") in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
            continue
        if not (_ready(pod) or (service.get("spec") or {}).get("publishNotReadyAddresses")):
            continue
        entries.append(HostEntry(ip, names(spec["hostname"], spec["subdomain"], pod["metadata"]["namespace"],
                                           domain)))
    return sorted(entries, key=lambda e: e.names)


def own_entry(pod: JSON, ip: str, domain: str) -> HostEntry:
    """The kubelet-managed line for the pod itself: its FQDN (with a subdomain) and its hostname."""
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    hostname = (spec.get("hostname") or meta["name"])[:63]
    if spec.get("subdomain"):
        return HostEntry(ip, (f"{hostname}.{spec['subdomain']}.{meta['namespace']}.svc.{domain}", hostname))
    return HostEntry(ip, (hostname,))
