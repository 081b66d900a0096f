"""CRD `x-kubernetes-validations` (CEL) rules, evaluated with the `common-expression-language` library.

`evaluate_validations` walks the schema alongside the object and runs every rule with `self` bound to the value
at that node; transition rules (those naming `oldSelf`) run only when the old object has a value there. A rule
that fails, cannot compile or cannot evaluate yields a StatusCause dict like schema.py's, never an exception.
Cost budgets are not enforced; the Kubernetes extension library is covered only in part (see `_FUNCTIONS`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import cel

from mpi_operator.sandbox.admission.schema import INT_OR_STRING, Cause, Schema, cause, child_path, index_path, key_path

VALIDATIONS = "x-kubernetes-validations"
_ABSENT = object()


def _split(text: str, sep: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    return text.split(sep, limit - 1) if limit > 0 else text.split(sep)


# A subset of Kubernetes' CEL extension libraries (strings, lists) that CRD rules commonly use.
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": lambda s: "".join(c.lower() if c.isascii() else c for c in s),
    "upperAscii": lambda s: "".join(c.upper() if c.isascii() else c for c in s),
    "trim": lambda s: s.strip(),
    "split": _split,
    "join": lambda items, sep="": sep.join(items),
    "indexOf": lambda s, sub, start=0: s.find(sub, start) if isinstance(s, str) else list(s).index(sub),
    "lastIndexOf": lambda s, sub: s.rfind(sub),
    "replace": lambda s, old, new, n=-1: s.replace(old, new, n),
    "isSorted": lambda items: list(items) == sorted(items),
    "sum": lambda items: sum(items),
    "min": lambda items: min(items),
    "max": lambda items: max(items),
}


@functools.lru_cache(maxsize=512)
def _compile(expression: str) -> tuple[cel.Program | None, frozenset[str], str]:
    """(program, referenced variables, compile error); cached because the same rules run on every write."""
    try:
        program = cel.compile(expression)
    except Exception as err:  # the library raises ValueError for syntax errors; be safe with any other
        return None, frozenset(), str(err).splitlines()[0]
    try:
        names = frozenset(program.variables())
    except Exception:
        names = frozenset({"oldSelf"} if "oldSelf" in expression else ())
    return program, names, ""


def _to_cel(value: Any, schema: Schema) -> Any:
    """Present values with the types the schema declares (a `number` that arrived as 1 is a double)."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            k: _to_cel(v, props.get(k) or (extra if isinstance(extra, Mapping) else {}))
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = schema.get("items")
        return [_to_cel(v, items if isinstance(items, Mapping) else {}) for v in value]
    return value


def _field_error(path: str, schema: Schema, reason: str, detail: str) -> Cause:
    """The cause the apiserver builds for a failed rule. kube-apiserver 1.37 omits the value from
    `Invalid value:` (older servers showed the node's schema type, e.g. `"object"`); a duplicate still
    names the type."""
    shown = f'"{schema.get("type", "")}"'
    if reason == "FieldValueForbidden":
        return cause(reason, path, f"Forbidden: {detail}")
    if reason == "FieldValueRequired":
        return cause(reason, path, f"Required value: {detail}")
    if reason == "FieldValueDuplicate":
        return cause(reason, path, f"Duplicate value: {shown}")
    return cause("FieldValueInvalid", path, f"Invalid value: {detail}")


def _rule_path(path: str, field_path: Any) -> str:
    if not isinstance(field_path, str) or not field_path:
        return path
    if field_path.startswith("["):
        return f"{path}{field_path}"
    return child_path(path, field_path.lstrip("."))


def _run_rule(rule: Mapping[str, Any], value: Any, old: Any, schema: Schema, path: str) -> Cause | None:
    expression = str(rule.get("rule", ""))
    shown_rule = expression.strip()
    program, names, compile_error = _compile(expression)
    where = _rule_path(path, rule.get("fieldPath"))
    if program is None:
        return _field_error(where, schema, "FieldValueInvalid", f"rule compile error: {compile_error}")
    variables: dict[str, Any] = {"self": _to_cel(value, schema)}
    if "oldSelf" in names:
        if old is _ABSENT:
            if not rule.get("optionalOldSelf"):
                return None  # transition rules are skipped when there is nothing to compare with
            variables["oldSelf"] = cel.OptionalValue.none()
        else:
            converted = _to_cel(old, schema)
            variables["oldSelf"] = cel.OptionalValue.of(converted) if rule.get("optionalOldSelf") else converted
    try:
        result = program.execute(cel.Context(variables=variables, functions=_FUNCTIONS))
    except Exception as err:
        detail = f"{shown_rule}: evaluation error: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        return _field_error(where, schema, "FieldValueInvalid", detail)
    if result is True:
        return None
    if result is not False:
        return _field_error(where, schema, "FieldValueInvalid", f"{shown_rule}: rule did not evaluate to a bool")
    return _field_error(where, schema, str(rule.get("reason") or "FieldValueInvalid"),
                        _message(rule, variables, shown_rule))


def _message(rule: Mapping[str, Any], variables: dict[str, Any], shown_rule: str) -> str:
    expression = rule.get("messageExpression")
    if isinstance(expression, str) and expression:
        program, _, _ = _compile(expression)
        if program is not None:
            try:
                text = program.execute(cel.Context(variables=variables, functions=_FUNCTIONS))
            except Exception:
                text = None
            if isinstance(text, str) and text.strip():
                return text
    message = rule.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {shown_rule}"


def _walk(value: Any, schema: Schema, old: Any, path: str, causes: list[Cause]) -> None:
    if value is None and not schema.get("nullable"):
        return
    for rule in schema.get(VALIDATIONS) or []:
        if isinstance(rule, Mapping):
            found = _run_rule(rule, value, old, schema, path)
            if found is not None:
                causes.append(found)
    if isinstance(value, Mapping) and not schema.get(INT_OR_STRING):
        props: Mapping[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, Mapping) else {}
        for key, item in value.items():
            if key in props:
                _walk(item, props[key], old_map.get(key, _ABSENT), child_path(path, key), causes)
            elif isinstance(extra, Mapping):
                _walk(item, extra, old_map.get(key, _ABSENT), key_path(path, key), causes)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items: Schema = schema["items"]
        correlate = _old_items(schema, old)
        for index, item in enumerate(value):
            _walk(item, items, correlate(item), index_path(path, index), causes)


def _old_items(schema: Schema, old: Any) -> Callable[[Any], Any]:
    """How a list item finds its old self: by map keys for list-type map, by value for sets, else never."""
    if not isinstance(old, list):
        return lambda item: _ABSENT
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "map":
        keys = list(schema.get("x-kubernetes-list-map-keys") or [])

        def by_keys(item: Any) -> Any:
            if not isinstance(item, Mapping):
                return _ABSENT
            for candidate in old:
                if isinstance(candidate, Mapping) and all(candidate.get(k) == item.get(k) for k in keys):
                    return candidate
            return _ABSENT

        return by_keys
    if list_type == "set":
        return lambda item: item if item in old else _ABSENT
    return lambda item: _ABSENT


def evaluate_validations(obj: Mapping[str, Any], schema: Schema, old: Mapping[str, Any] | None) -> list[Cause]:
    """Run every CEL rule of `schema` against `obj` (and `old` on update); return one cause per failed rule."""
    causes: list[Cause] = []
    _walk(obj, schema, old if old is not None else _ABSENT, "", causes)
    return causes


def collect_rules(schema: Schema, path: str = "") -> list[tuple[str, str]]:
    """(path, rule) for every rule in the schema, e.g. for documenting or pre-compiling a CRD's rules."""
    found = [(path, str(r.get("rule", ""))) for r in schema.get(VALIDATIONS) or [] if isinstance(r, Mapping)]
    for key, prop in (schema.get("properties") or {}).items():
        found.extend(collect_rules(prop, child_path(path, key)))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        found.extend(collect_rules(extra, key_path(path, "*")))
    items = schema.get("items")
    if isinstance(items, Mapping):
        found.extend(collect_rules(items, index_path(path, 0).replace("[0]", "[*]")))
    return found


def rule_compile_errors(schema: Schema) -> list[tuple[str, str, str]]:
    """(path, rule, error) for every rule the library cannot compile (the server may warn at CRD creation)."""
    errors: list[tuple[str, str, str]] = []
    for path, expression in collect_rules(schema):
        program, _, error = _compile(expression)
        if program is None:
            errors.append((path, expression, error))
    return errors
