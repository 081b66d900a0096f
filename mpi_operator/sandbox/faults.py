"""Fault injection settings and the hooks the server consults: error rates, latency, watch cuts, forced 410.

`Faults` is a plain mutable object: tests and the chaos suite change it at run time (`sb.faults.error_rate = ...`)
and the next request sees it. A spec string (`--faults`) sets the same fields:
`error=0.1,error_code=500,latency=0.05,watch_cut=10,expire_watches=1,verbs=create|update,resources=pods`.
`throttle=0.05` answers a further share of matching requests 429 with Retry-After, next to `error` (the chaos mix).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from mpi_operator.sandbox.errors import ApiError


@dataclass
class Faults:
    error_rate: float = 0.0          # probability that a matching request fails
    error_code: int = 500            # 500, 429 (with Retry-After) or 409
    retry_after: int = 1
    throttle_rate: float = 0.0       # probability of a 429 (Retry-After), drawn after error_rate
    latency: float = 0.0             # seconds added before every matching request
    watch_cut_seconds: float = 0.0   # end every watch stream after this long (0 = never)
    expire_watches: bool = False     # answer every watch resumed from a resourceVersion with 410 Expired
    # A watch from the resourceVersion of a list just served is a start, not a resume: it is not expired, or a
    # client would list, watch, get 410 and list again forever.
    _listed: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    verbs: set[str] = field(default_factory=set)       # empty = all verbs
    resources: set[str] = field(default_factory=set)   # storage keys (pods, jobs.batch); empty = all
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    watch_cut_midline: bool = False  # a cut watch ends in the middle of an event line, without the last chunk

    @classmethod
    def parse(cls, spec: str) -> Faults:
        f = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            if key == "error":
                f.error_rate = float(value)
            elif key == "error_code":
                f.error_code = int(value)
            elif key == "throttle":
                f.throttle_rate = float(value)
            elif key == "retry_after":
                f.retry_after = int(value)
            elif key == "latency":
                f.latency = float(value)
            elif key == "watch_cut":
                f.watch_cut_seconds = float(value)
            elif key == "expire_watches":
                f.expire_watches = value.lower() in ("1", "true", "yes", "")
            elif key == "verbs":
                f.verbs = set(value.split("|"))
            elif key == "resources":
                f.resources = set(value.split("|"))
            elif key == "seed":
                f.seed = int(value)
                f._rng.seed(f.seed)
            elif key == "watch_cut_midline":
                f.watch_cut_midline = value.lower() in ("1", "true", "yes", "")
            else:
                raise ValueError(f"unknown fault setting {key!r}")
        return f

    def note_list(self, resource_version: str) -> None:
        """Remember a list's resourceVersion (the last 1000), so the watch that follows it is not expired."""
        if self.expire_watches:
            self._listed[resource_version] = None
            self._listed.move_to_end(resource_version)
            while len(self._listed) > 1000:
                self._listed.popitem(last=False)

    def expires(self, resource_version: str | None) -> bool:
        """Whether a watch from `resource_version` is answered 410 (forced expiry of resumed watches)."""
        return self.expire_watches and resource_version not in (None, "", "0") and \
            resource_version not in self._listed

    def _applies(self, verb: str, resource: str) -> bool:
        return (not self.verbs or verb in self.verbs) and (not self.resources or resource in self.resources)

    async def before_request(self, verb: str, resource: str) -> None:
        """Hook run by the server before serving a resource request; may sleep and may raise an ApiError."""
        if not self._applies(verb, resource):
            return
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.error_rate > 0 or self.throttle_rate > 0:
            draw = self._rng.random()
            if draw < self.error_rate:
                raise self._error(verb, resource, self.error_code)
            if draw < self.error_rate + self.throttle_rate:
                raise self._error(verb, resource, 429)

    def _error(self, verb: str, resource: str, code: int) -> ApiError:
        if code == 429:
            return ApiError(429, "TooManyRequests", "the server has received too many requests and has asked us "
                            "to try again later", {"retryAfterSeconds": self.retry_after},
                            headers={"Retry-After": str(self.retry_after)})
        if code == 409:
            return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {resource}: injected conflict",
                            {"kind": resource})
        return ApiError(code, "InternalError", f"Internal error occurred: injected fault on {verb} "
                        f"{resource}", {"causes": [{"message": "injected fault"}]})

    def replace(self, spec: str) -> None:
        """Swap every setting for those of `spec` in place (run-time changes reach the server's own object)."""
        fresh = Faults.parse(spec)
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def settings(self) -> dict[str, object]:
        """The public settings as JSON-ready values (what GET /debug/faults answers)."""
        return {f.name: sorted(v) if isinstance(v := getattr(self, f.name), set) else v
                for f in dataclasses.fields(self) if not f.name.startswith("_")}
