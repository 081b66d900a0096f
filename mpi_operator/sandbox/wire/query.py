"""Query parameters read the way kube-apiserver's parameter codec reads them (apimachinery runtime/conversion.go).

Integers are Go's strconv.ParseInt (base 10, optional sign, int64): anything else is 400 BadRequest with Go's
own text, `strconv.ParseInt: parsing "abc": invalid syntax`. Booleans: only "0" and "false" (any case) are
false; any other value, the empty string included, is true; an absent parameter is unset.
"""

from __future__ import annotations

import re

import orjson
from multidict import MultiMapping

from mpi_operator.sandbox.errors import bad_request

Query = MultiMapping[str]
_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def int64(query: Query, name: str) -> int | None:
    """The parameter as an int64, or None when absent; 400 when it is not one."""
    text = query.get(name)
    if text is None:
        return None
    if not _INT.fullmatch(text):
        raise _parse_error(text, "invalid syntax")
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _parse_error(text, "value out of range")
    return value


def boolean(query: Query, name: str) -> bool | None:
    """The parameter as apimachinery's booleans read it, or None when absent."""
    text = query.get(name)
    if text is None:
        return None
    return not (text == "0" or text.lower() == "false")


def _parse_error(text: str, why: str) -> Exception:
    quoted = orjson.dumps(text).decode()  # Go's %q for the printable text clients send
    return bad_request(f"strconv.ParseInt: parsing {quoted}: {why}")
