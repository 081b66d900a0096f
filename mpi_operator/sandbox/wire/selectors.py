"""Label and field selectors as the Kubernetes API server parses and evaluates them.

Pure functions over plain dicts: a selector string (query parameter) or a metav1.LabelSelector dict becomes an
immutable selector whose `matches` is a pure predicate. Every parse error is a `SelectorError` whose text follows
apimachinery's wording, so the server can answer 400 BadRequest with it unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse or names something unsupported (HTTP 400)."""


# ---------------------------------------------------------------------------------------------------------------
# Label selectors
# ---------------------------------------------------------------------------------------------------------------

_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _label_key_problem(key: str) -> str | None:
    """Why `key` is not a qualified name (optional DNS-subdomain prefix + '/' + name), or None when it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME_PART.match(name):
        return _NAME_MSG
    return None


def _check_key(key: str) -> None:
    problem = _label_key_problem(key)
    if problem is not None:
        raise SelectorError(f'key: Invalid value: "{key}": {problem}')


def _check_value(value: str, index: int) -> None:
    if len(value) > 63:
        raise SelectorError(f'values[{index}][{value}]: Invalid value: "{value}": must be no more than 63 characters')
    if value and not _NAME_PART.match(value):
        raise SelectorError(f'values[{index}][{value}]: Invalid value: "{value}": {_VALUE_MSG}')


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term; op is one of in, notin, =, ==, !=, exists, !, gt, lt."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op in ("=", "==", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if op == "exists":
            return present
        if op == "!":
            return not present
        # gt / lt: both sides must be integers, otherwise the requirement does not hold.
        if not present or value is None:
            return False
        try:
            have = int(value)
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if op == "gt" else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(sorted(self.values))})"
        symbol = {"gt": ">", "lt": "<"}.get(op, op)
        return f"{self.key}{symbol}{self.values[0]}"


def _requirement(key: str, operator: str, values: Iterable[str]) -> Requirement:
    """Validate and build a requirement the way apimachinery's NewRequirement does."""
    vals = tuple(values)
    _check_key(key)
    if operator in ("in", "notin") and not vals:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    if operator in ("=", "==", "!=") and len(vals) != 1:
        raise SelectorError("exact-match compatibility requires one single value")
    if operator in ("exists", "!") and vals:
        raise SelectorError("values set must be empty for exists and does not exist")
    if operator in ("gt", "lt"):
        if len(vals) != 1:
            raise SelectorError("for 'Gt', 'Lt' operators, exactly one value is required")
        try:
            int(vals[0])
        except ValueError:
            raise SelectorError("for 'Gt', 'Lt' operators, the value must be an integer") from None
        return Requirement(key, operator, vals)
    for index, value in enumerate(vals):
        _check_value(value, index)
    return Requirement(key, operator, vals)


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; `nothing` marks the selector that matches no object (a nil selector)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        have = labels or {}
        return all(req.matches(have) for req in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector matches every object."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


# Lexer: identifiers are runs of anything but whitespace and the special symbols.
_SPECIAL = "!=(),<>"
_SYMBOLS = ("!=", "==", "!", "=", "(", ")", ",", "<", ">")
_EOS = ("eos", "end of string")


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, literal) pairs, kind being 'id', 'in', 'notin', a symbol, or 'eos'."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _SPECIAL:
            symbol = next(s for s in _SYMBOLS if text.startswith(s, i))
            out.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
            i += 1
        word = text[start:i]
        out.append((word if word in ("in", "notin") else "id", word))
    out.append(_EOS)
    return out


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.toks[self.pos]
        if tok[0] != "eos":
            self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == "eos":
                return reqs
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            kind, lit = self.take()
            if kind == "eos":
                return reqs
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind in ("eos", ","):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek()[0] == "!"
        if negated:
            self.take()
        kind, key = self.take()
        if kind != "id":
            raise SelectorError(f"found '{key}', expected: identifier")
        _check_key(key)
        if self.peek()[0] in ("eos", ","):
            return _requirement(key, "!" if negated else "exists", ())
        if negated:
            kind, lit = self.peek()
            raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
        kind, lit = self.take()
        if kind in ("in", "notin"):
            return _requirement(key, kind, self.value_set())
        if kind in ("=", "==", "!=", ">", "<"):
            operator = {">": "gt", "<": "lt"}.get(kind, kind)
            return _requirement(key, operator, (self.exact_value(),))
        raise SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")

    def exact_value(self) -> str:
        kind, lit = self.peek()
        if kind in ("eos", ","):
            return ""  # `k=` selects the empty value
        self.take()
        if kind not in ("id", "in", "notin"):
            raise SelectorError(f"found '{lit}', expected: identifier")
        return lit

    def value_set(self) -> list[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            kind, lit = self.take()
            if kind == ")":
                if expect_value and values:
                    values.append("")  # `(a,)` carries an empty value, as upstream
                return values
            if kind == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if kind in ("id", "in", "notin") and expect_value:
                values.append(lit)
                expect_value = False
                continue
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query-parameter grammar; the empty string selects everything."""
    return LabelSelector(tuple(_LabelParser(text).parse()))


_MATCH_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a metav1.LabelSelector; `{}` selects everything, None (a nil selector) selects nothing."""
    if selector is None:
        return LabelSelector(nothing=True)
    reqs: list[Requirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        reqs.append(_requirement(str(key), "=", (str(value),)))
    for expr in selector.get("matchExpressions") or []:
        operator = expr.get("operator")
        if operator not in _MATCH_OPERATORS:
            raise SelectorError(f'"{operator}" is not a valid label selector operator')
        values = [str(v) for v in expr.get("values") or []]
        reqs.append(_requirement(str(expr.get("key", "")), _MATCH_OPERATORS[operator], values))
    return LabelSelector(tuple(reqs))


# ---------------------------------------------------------------------------------------------------------------
# Field selectors
# ---------------------------------------------------------------------------------------------------------------

FieldGetter = Callable[[Mapping[str, Any]], Any]


def value_at(obj: Mapping[str, Any], *keys: str) -> Any:
    """The value under `keys` in nested mappings; None where the path ends early."""
    node: Any = obj
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _path(*keys: str) -> FieldGetter:
    return lambda obj: value_at(obj, *keys)


def _first_pod_ip(obj: Mapping[str, Any]) -> Any:
    ips = _path("status", "podIPs")(obj) or []
    return ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else None


_OBJECT_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_EVENT_FIELDS: dict[str, FieldGetter] = {
    **{f"involvedObject.{k}": _path("involvedObject", k) for k in _OBJECT_REFERENCE_FIELDS},
    "reason": _path("reason"),
    "reportingComponent": _path("reportingComponent"),
    "source": _path("source", "component"),
    "type": _path("type"),
}

# Per-resource selectable fields beyond metadata.name/metadata.namespace (k8s registries' ToSelectableFields).
_RESOURCE_FIELDS: dict[str, dict[str, FieldGetter]] = {
    "pods": {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: bool(_path("spec", "hostNetwork")(o)),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.podIPs": _first_pod_ip,
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    "events": _EVENT_FIELDS,
    "jobs": {"status.successful": lambda o: int(_path("status", "succeeded")(o) or 0)},
    "namespaces": {"status.phase": _path("status", "phase")},
    "secrets": {"type": _path("type")},
    "nodes": {"spec.unschedulable": lambda o: bool(_path("spec", "unschedulable")(o))},
    "replicasets": {"status.replicas": lambda o: int(_path("status", "replicas")(o) or 0)},
    "replicationcontrollers": {"status.replicas": lambda o: int(_path("status", "replicas")(o) or 0)},
}
_META_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}


def _field_text(value: Any) -> str:
    """Render a field value the way the registries do (bools lower-case, missing as empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of `field=value` / `field!=value` terms over one resource's selectable fields."""

    requirements: tuple[FieldRequirement, ...]
    getters: Mapping[str, FieldGetter]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for req in self.requirements:
            have = _field_text(self.getters[req.field](obj))
            if (have == req.value) != (req.operator == "="):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value an `=` term pins `field` to (lets a store look an object up by name), else None."""
        for req in self.requirements:
            if req.field == field and req.operator == "=":
                return req.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence in {value!r}")
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped {ch!r} in value {value!r}")
        out.append(ch)
        i += 1
    return "".join(out)


def _split_term(term: str) -> tuple[str, str, str]:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2  # an escaped character never starts an operator
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], "!=" if op == "!=" else "=", term[i + len(op):]
        i += 1
    raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")


def parse_field_selector(text: str, resource: str, extra_fields: Iterable[str] = ()) -> FieldSelector:
    """Parse a `fieldSelector` for `resource` (plural); `extra_fields` are a CRD's selectableFields
    (json paths such as `.spec.color`, leading dot optional). Unknown fields raise SelectorError."""
    specific = dict(_RESOURCE_FIELDS.get(resource, {}))
    for path in extra_fields:
        dotted = path.lstrip(".")
        specific[dotted] = _path(*dotted.split("."))
    getters = {**_META_FIELDS, **specific}
    reqs: list[FieldRequirement] = []
    if text.strip():
        for term in _split_unescaped(text, ","):
            if not term:
                continue
            field, operator, raw = _split_term(term)
            field = field.strip()
            if field not in getters:
                if resource in _RESOURCE_FIELDS:
                    raise SelectorError(f"field label not supported: {field}")
                raise SelectorError(
                    f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
            reqs.append(FieldRequirement(field, operator, _unescape(raw)))
    return FieldSelector(tuple(reqs), getters)
