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
from collections.abc import Callable
from dataclasses import dataclass, field

from mpi_operator.sandbox.errors import ApiError


@dataclass
class Faults:
    error_rate: float = 0.0          # probability that a matching request fails
    error_code: int = 500            # 500, 429 (with Retry-After) or 409
    retry_after: int = 1
    throttle_rate: float = 0.0       # probability of a 429 (Retry-After), drawn after error_rate
    latency: float = 0.0             # seconds added before every matching request
    reply_latency: float = 0.0       # seconds added after a matching request was served, before the answer
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
        """Settings from a spec string; ValueError names the setting, the value and what it may be."""
        f = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in _SETTINGS:
                raise ValueError(f"unknown fault setting {key!r}; known: {', '.join(sorted(_SETTINGS))}")
            attribute, convert = _SETTINGS[key]
            try:
                setattr(f, attribute, convert(value.strip()))
            except ValueError as exc:
                raise ValueError(f"{key}={value!r}: {exc}") from None
        if f.seed is not None:
            f._rng.seed(f.seed)
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

    async def after_request(self, verb: str, resource: str) -> None:
        """Hook run after a request was served and before it is answered: a write that is done, but whose
        answer is late (or lost, if the client gives up first)."""
        if self.reply_latency > 0 and self._applies(verb, resource):
            await asyncio.sleep(self.reply_latency)

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


def _number(value: str, convert: Callable[[str], float], ok: Callable[[float], bool], allowed: str) -> float:
    try:
        number = convert(value)
    except ValueError:
        number = float("nan")
    if not ok(number):  # nan fails every comparison
        raise ValueError(f"must be {allowed}")
    return number


def _probability(value: str) -> float:
    return _number(value, float, lambda p: 0.0 <= p <= 1.0, "a probability from 0 to 1")


def _seconds(value: str) -> float:
    return _number(value, float, lambda s: 0.0 <= s < float("inf"), "a number of seconds, 0 or more")


def _error_code(value: str) -> int:
    return int(_number(value, int, lambda c: c in (409, 429) or 500 <= c <= 599, "409, 429 or a 5xx code"))


def _count(value: str) -> int:
    return int(_number(value, int, lambda n: n >= 0, "an integer, 0 or more"))


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", ""):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError("must be 1 or 0 (true or false)")


def _names(value: str) -> set[str]:
    names = {n.strip() for n in value.split("|")}
    if "" in names:
        raise ValueError("must be names separated by |")
    return names


def _seed(value: str) -> int:
    return int(_number(value, int, lambda n: n == n, "an integer"))


# spec key -> (attribute, converter raising ValueError with what the value may be)
_SETTINGS: dict[str, tuple[str, Callable[[str], object]]] = {
    "error": ("error_rate", _probability), "error_code": ("error_code", _error_code),
    "throttle": ("throttle_rate", _probability), "retry_after": ("retry_after", _count),
    "latency": ("latency", _seconds), "reply_latency": ("reply_latency", _seconds),
    "watch_cut": ("watch_cut_seconds", _seconds), "watch_cut_midline": ("watch_cut_midline", _flag),
    "expire_watches": ("expire_watches", _flag), "verbs": ("verbs", _names), "resources": ("resources", _names),
    "seed": ("seed", _seed),
}
