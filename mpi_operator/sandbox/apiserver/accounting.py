"""Request accounting: how many API requests each (verb, resource, namespace, client) made.

Benchmarks read it to count API calls per reconcile, RBAC checks read it to list what the operator touches. The
server records every request once its verb and resource are known; `/debug/requests` serves the same data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple


class RequestKey(NamedTuple):
    verb: str
    resource: str
    namespace: str
    client: str


def client_id(user_agent: str) -> str:
    """`kubectl/v1.37.1 (linux/amd64) ...` -> `kubectl`; `OpenAPI-Generator/36.1.0/python` -> `OpenAPI-Generator`."""
    first = user_agent.split(" ", 1)[0] if user_agent else ""
    return first.split("/", 1)[0] or "unknown"


@dataclass
class RequestLog:
    counts: Counter[RequestKey]

    def __init__(self) -> None:
        self.counts = Counter()

    def record(self, verb: str, resource: str, namespace: str = "", client: str = "") -> None:
        self.counts[RequestKey(verb, resource, namespace, client)] += 1

    def reset(self) -> None:
        self.counts.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, verb: str | None = None, resource: str | None = None, namespace: str | None = None,
              client: str | None = None) -> int:
        """Requests matching every given part (None = any)."""
        return sum(n for k, n in self.counts.items()
                   if (verb is None or k.verb == verb) and (resource is None or k.resource == resource)
                   and (namespace is None or k.namespace == namespace) and (client is None or k.client == client))

    def by_verb(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for k, n in self.counts.items():
            out[k.verb] += n
        return dict(out)

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total,
                "requests": [{"verb": k.verb, "resource": k.resource, "namespace": k.namespace, "client": k.client,
                              "count": n} for k, n in sorted(self.counts.items())]}
