"""Kubernetes API errors as values: `ApiError` carries everything a `Status` body needs.

Every failing request in the sandbox ends as one `ApiError`, raised by the store or the HTTP layer and rendered
by `status_body` into the exact `Status` shape clients parse (reason, code, details with causes).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Kubernetes-style failure: HTTP code, machine reason, human message and optional details."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def success_status(details: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": resource})


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": resource})


def conflict(resource: str, group: str, name: str, why: str = "") -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    {"name": name, "group": group, "kind": resource})


def invalid(kind: str, group: str, name: str, causes: list[dict[str, Any]]) -> ApiError:
    """422 Invalid; each cause is {reason, message, field} and the message joins them like apimachinery."""
    parts = []
    for c in causes:
        field = c.get("field", "")
        parts.append(f"{field}: {c.get('message', '')}" if field else str(c.get("message", "")))
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{_qualified(kind, group)} "{name}" is invalid: {summary}',
                    {"name": name, "group": group, "kind": kind, "causes": causes})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def cause(reason: str, message: str, field: str) -> dict[str, Any]:
    return {"reason": reason, "message": message, "field": field}
