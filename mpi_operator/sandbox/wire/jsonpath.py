"""The JSONPath subset CRD printer columns use (Kubernetes' client-go jsonpath flavour), over plain dicts.

`find(obj, path)` returns every value the path selects, in document order; a missing key selects nothing rather
than failing (the printer-column evaluator allows missing keys). Supported: `.a.b`, `['a.b']`, `[0]`, `[-1]`,
slices `[a:b:c]`, wildcards `[*]`/`.*`, recursive `..a`, filters `[?(@.type=="Ready")]` with
`== != < <= > >=` or bare existence `[?(@.x)]`; an optional `{...}` wrapper and leading `$`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any


class JSONPathError(ValueError):
    """A path outside the supported grammar."""


Step = Callable[[list[Any]], list[Any]]

_NAME = re.compile(r"(?:\\.|[^.\[\]\\*])+")
_FILTER = re.compile(r"^\s*(@[^=!<>\s]*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [node[key] for key in sorted(node)]
    if isinstance(node, list):
        return list(node)
    return []


def _field(name: str) -> Step:
    def step(nodes: list[Any]) -> list[Any]:
        return [node[name] for node in nodes if isinstance(node, Mapping) and name in node]

    return step


def _recursive(name: str) -> Step:
    def collect(node: Any, out: list[Any]) -> None:
        if isinstance(node, Mapping) and name in node:
            out.append(node[name])
        for child in _children(node):
            collect(child, out)

    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            collect(node, out)
        return out

    return step


def _wildcard(nodes: list[Any]) -> list[Any]:
    return [child for node in nodes for child in _children(node)]


def _index_or_slice(spec: str) -> Step:
    parts = spec.split(":")
    try:
        bounds = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise JSONPathError(f"invalid array index {spec!r}") from None
    if len(bounds) == 1:
        index = bounds[0]
        if index is None:
            raise JSONPathError("empty array index")

        def pick(nodes: list[Any]) -> list[Any]:
            return [n[index] for n in nodes if isinstance(n, list) and -len(n) <= index < len(n)]

        return pick
    if len(bounds) > 3:
        raise JSONPathError(f"invalid array slice {spec!r}")
    window = slice(*bounds)

    def cut(nodes: list[Any]) -> list[Any]:
        return [item for n in nodes if isinstance(n, list) for item in n[window]]

    return cut


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise JSONPathError(f"unrecognized filter operand {text!r}") from None


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    numbers = (int, float)
    if not (isinstance(left, numbers) and isinstance(right, numbers)) and not (
        isinstance(left, str) and isinstance(right, str)
    ):
        return False
    a: Any = left
    b: Any = right
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _filter(expression: str) -> Step:
    match = _FILTER.match(expression)
    if not match:
        raise JSONPathError(f"unsupported filter {expression!r}")
    left_path, op, right_text = match.groups()
    left_steps = _compile(left_path[1:])
    right_steps: list[Step] | None = None
    right_value: Any = None
    if right_text is not None and right_text.strip().startswith("@"):
        right_steps = _compile(right_text.strip()[1:])
    elif right_text is not None:
        right_value = _literal(right_text)

    def keep(item: Any) -> bool:
        lefts = _run(left_steps, item)
        if op is None:
            return bool(lefts)
        if not lefts:
            return False
        rights = _run(right_steps, item) if right_steps is not None else [right_value]
        return bool(rights) and _compare(lefts[0], op, rights[0])

    def step(nodes: list[Any]) -> list[Any]:
        return [item for node in nodes for item in _children(node) if keep(item)]

    return step


def _bracket_end(path: str, start: int) -> int:
    """Index of the `]` closing the bracket opened at `start`, skipping quoted text and nested parentheses."""
    depth = 0
    quote = ""
    for i in range(start + 1, len(path)):
        ch = path[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "]" and depth == 0:
            return i
    raise JSONPathError(f"unclosed '[' in {path!r}")


def _compile(path: str) -> list[Step]:
    steps: list[Step] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if path.startswith("..", i):
            match = _NAME.match(path, i + 2)
            if not match:
                raise JSONPathError(f"expected a name after '..' in {path!r}")
            steps.append(_recursive(_unescape(match.group())))
            i = match.end()
        elif ch == ".":
            if path.startswith(".*", i):
                steps.append(_wildcard)
                i += 2
                continue
            match = _NAME.match(path, i + 1)
            if not match:
                i += 1  # a bare "." is the current node
                continue
            steps.append(_field(_unescape(match.group())))
            i = match.end()
        elif ch == "[":
            end = _bracket_end(path, i)
            inner = path[i + 1:end].strip()
            if inner == "*":
                steps.append(_wildcard)
            elif inner.startswith("?(") and inner.endswith(")"):
                steps.append(_filter(inner[2:-1]))
            elif inner[:1] in "'\"" and inner[-1:] == inner[:1]:
                steps.append(_field(inner[1:-1]))
            else:
                steps.append(_index_or_slice(inner))
            i = end + 1
        elif ch.isspace():
            i += 1
        else:
            match = _NAME.match(path, i)
            if not match:
                raise JSONPathError(f"unexpected {ch!r} in {path!r}")
            steps.append(_field(_unescape(match.group())))
            i = match.end()
    return steps


def _unescape(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def _run(steps: list[Step], obj: Any) -> list[Any]:
    nodes = [obj]
    for step in steps:
        nodes = step(nodes)
    return nodes


def compile_path(path: str) -> Callable[[Any], list[Any]]:
    """Compile once, evaluate many times (one printer column over every row)."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps = _compile(text)
    return lambda obj: _run(steps, obj)


def find(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj`; empty when nothing matches."""
    return compile_path(path)(obj)
