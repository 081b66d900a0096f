"""Cluster DNS as hosts entries: the names a pod resolves for the pods behind headless Services.

Pure. A pod with `spec.hostname` H and `spec.subdomain` S in namespace N is published as
`H.S.N.svc.<domain>` when a headless Service S in N selects it, it has an IP, and it is Ready — or the
Service has `publishNotReadyAddresses` — as CoreDNS answers from the Service's EndpointSlices. A hosts
file has no search path, so each reader's entries also carry the short names its resolver's search
domains would complete (`with_search_aliases`): `H.S` through `N.svc.<domain>`, and the bare `H` of an
MPI launcher through the `S.N.svc.<domain>` search domain the operator gives workers.
"""

from __future__ import annotations

from collections.abc import Iterable

from mpi_operator.kube.meta import JSON
from mpi_operator.nodeagent.runtime import HostEntry


def _ready(pod: JSON) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _selects(service: JSON, pod: JSON) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def fqdn(hostname: str, subdomain: str, namespace: str, domain: str) -> str:
    return f"{hostname}.{subdomain}.{namespace}.svc.{domain}"


def with_search_aliases(entries: Iterable[HostEntry], searches: Iterable[str]) -> list[HostEntry]:
    """Each entry's names plus what a resolver with these search domains completes to them."""
    domains = tuple(searches)
    out = []
    for entry in entries:
        aliases = list(entry.names)
        for name in entry.names:
            aliases += [name[:-len(d) - 1] for d in domains if name.endswith("." + d)]
        out.append(HostEntry(entry.ip, tuple(dict.fromkeys(aliases))))
    return out


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
        entries.append(HostEntry(ip, (fqdn(spec["hostname"], spec["subdomain"], pod["metadata"]["namespace"],
                                            domain),)))
    return sorted(entries, key=lambda e: e.names)


def own_entry(pod: JSON, ip: str, domain: str) -> HostEntry:
    """The kubelet-managed line for the pod itself: its FQDN (with a subdomain) and its hostname."""
    spec, meta = pod.get("spec") or {}, pod["metadata"]
    hostname = (spec.get("hostname") or meta["name"])[:63]
    if spec.get("subdomain"):
        return HostEntry(ip, (f"{hostname}.{spec['subdomain']}.{meta['namespace']}.svc.{domain}", hostname))
    return HostEntry(ip, (hostname,))
