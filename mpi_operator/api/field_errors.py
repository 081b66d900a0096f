"""Field errors as values, rendered exactly like Kubernetes' `field.Error` and `utilerrors.Aggregate`.

Invariant: `str(FieldError)` and `aggregate()` produce the same text as apimachinery (v0.32) for the same
error, so messages users grep for (`spec.x: Invalid value: 5: ...`) match upstream's word for word.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mpi_operator.api.constants import MESSAGE_SIZE_LIMIT


class ErrorType(StrEnum):
    """Kubernetes field.ErrorType, by its Go constant name; `.phrase` is the rendered form."""

    NOT_FOUND = "NotFound"
    REQUIRED = "Required"
    DUPLICATE = "Duplicate"
    INVALID = "Invalid"
    NOT_SUPPORTED = "NotSupported"
    FORBIDDEN = "Forbidden"
    TOO_LONG = "TooLong"
    TOO_MANY = "TooMany"
    INTERNAL = "Internal"
    TYPE_INVALID = "TypeInvalid"

    @property
    def phrase(self) -> str:
        return _PHRASES[self]


_PHRASES = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}

# Types whose rendering never shows the bad value (as in field.Error.ErrorBody).
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


class _Omitted:
    """Marker for "no bad value" (Go's omitValue); distinct from None, which renders as null."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `type`, the field path (`spec.mpiReplicaSpecs[Worker].replicas`),
    the offending value (OMITTED when not shown) and a human detail."""

    type: ErrorType
    field: str
    bad_value: Any = OMITTED
    detail: str = ""

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls(ErrorType.REQUIRED, field, OMITTED, detail)

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls(ErrorType.INVALID, field, value, detail)

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls(ErrorType.FORBIDDEN, field, OMITTED, detail)

    @classmethod
    def not_supported(cls, field: str, value: Any, supported: Iterable[str]) -> FieldError:
        """Kubernetes lists the supported values quoted, in the order given; we always sort them."""
        quoted = ", ".join(go_quote(str(v)) for v in sorted(supported))
        return cls(ErrorType.NOT_SUPPORTED, field, value, f"supported values: {quoted}" if quoted else "")

    def body(self) -> str:
        """The text after `<path>: ` (Go's ErrorBody)."""
        text = self.type.phrase
        if self.type not in _VALUELESS and self.bad_value is not OMITTED:
            text += ": " + render_value(self.bad_value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()


def render_value(value: Any) -> str:
    """A bad value as Go's field.Error prints it: strings quoted, numbers and booleans bare, nil as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, backslash escapes, printable Unicode kept as is."""
    out = ['"']
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def aggregate(errors: Iterable[object]) -> str:
    """Join errors like ErrorList.ToAggregate().Error(): duplicates dropped; one error is its bare text,
    several are `[e1, e2]`; no errors is the empty string."""
    texts = unique_texts(errors)
    if len(texts) == 1:
        return texts[0]
    return "[" + ", ".join(texts) + "]" if texts else ""


def truncate_message(message: str, limit: int = MESSAGE_SIZE_LIMIT) -> str:
    """Cut a message to at most `limit` UTF-8 bytes: its first `limit`-3 bytes followed by `...`.

    Upstream cuts bytes blindly and may split a character; we drop the partial character instead,
    so the result is valid text and still within the limit.
    """
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    return raw[: max(limit - 3, 0)].decode("utf-8", errors="ignore") + "..."


def unique_texts(errors: Iterable[object]) -> list[str]:
    """The rendered errors without duplicates, in their original order (for one-per-line output)."""
    return list(dict.fromkeys(str(e) for e in errors))
