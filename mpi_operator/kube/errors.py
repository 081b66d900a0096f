"""Typed API errors built from the Kubernetes `Status` body of a non-2xx answer.

Every failed API call raises an `ApiError` subclass chosen by `reason` first and HTTP code second, so callers
write `except NotFound:` instead of comparing numbers. Transport failures (no HTTP answer) are `TransportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StatusCause:
    """One entry of `details.causes` (the cause's type is serialised under the key `reason`)."""

    reason: str
    message: str
    field: str


class KubeError(Exception):
    """Base of everything this runtime raises about talking to the API server."""


class TransportError(KubeError):
    """The request got no HTTP answer (connection refused, reset, timeout)."""


class ConnectionSetupError(TransportError):
    """The connection cannot work as configured (TLS handshake or certificate, a malformed URL): a repeat
    fails the same way, so it is not retried."""


class ApiError(KubeError):
    """A non-2xx answer. `status` is the decoded Status body (or a synthetic one for non-JSON bodies)."""

    def __init__(self, code: int, status: dict[str, Any], retry_after: float | None = None) -> None:
        self.code = code
        self.status = status
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or "")
        details = status.get("details") or {}
        self.details: dict[str, Any] = details if isinstance(details, dict) else {}
        self.causes: list[StatusCause] = [
            StatusCause(str(c.get("reason") or ""), str(c.get("message") or ""), str(c.get("field") or ""))
            for c in self.details.get("causes") or []
            if isinstance(c, dict)
        ]
        if retry_after is None and isinstance(self.details.get("retryAfterSeconds"), int | float):
            retry_after = float(self.details["retryAfterSeconds"])
        self.retry_after = retry_after
        super().__init__(f"{code} {self.reason or 'Error'}: {self.message}")


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class MethodNotAllowed(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    """410: the resourceVersion or continue token is older than the server's history (reason Expired or Gone)."""


Expired = Gone


class UnsupportedMediaType(ApiError):
    pass


class Invalid(ApiError):
    """422: validation failed; `causes` name each field."""


class TooManyRequests(ApiError):
    """429: `retry_after` holds the Retry-After header (or details.retryAfterSeconds) in seconds."""


class ServerError(ApiError):
    """5xx (InternalError, ServiceUnavailable, Timeout...)."""


_BY_REASON: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Expired": Gone,
    "Gone": Gone,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "BadRequest": BadRequest,
    "MethodNotAllowed": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
}

_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def api_error(code: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The typed error for an HTTP code and a decoded body (a Status dict, or anything else for non-JSON)."""
    if isinstance(body, dict) and body.get("kind") == "Status":
        status = body
    else:
        status = {"kind": "Status", "status": "Failure", "code": code, "message": str(body)[:1024] if body else ""}
    cls = _BY_REASON.get(str(status.get("reason") or "")) or _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 else ApiError
    return cls(code, status, retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (Kubernetes sends integer seconds; HTTP dates are not used by it)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
