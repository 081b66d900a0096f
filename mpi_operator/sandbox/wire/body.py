"""Request bodies as kube-apiserver takes them: at most 3 MiB, refused with 413 before anything is parsed.

Invariant: no body can stall the server. The limit is checked against Content-Length before reading and while
reading (chunked bodies); a large body is decoded in a worker thread, so other requests keep being answered
while it parses; YAML whose aliases would expand past what the limit allows is refused (a small "billion laughs"
document would otherwise become gigabytes when stored and served).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import yaml
from aiohttp import web

from mpi_operator.sandbox.errors import ApiError, bad_request

# kube-apiserver's default --max-request-body-bytes (k8s.io/apiserver pkg/server/config.go).
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
# Bodies above this are decoded off the event loop (orjson does 3 MiB in ~10 ms; PyYAML takes seconds).
_DECODE_INLINE_BYTES = 64 * 1024
# YAML nodes a document may expand to through aliases; a document without aliases has fewer nodes than bytes.
_MAX_EXPANDED_NODES = MAX_REQUEST_BODY_BYTES


def too_large() -> ApiError:
    """kube-apiserver's answer (apimachinery NewRequestEntityTooLargeError)."""
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}")


async def read_body(request: web.Request) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed the limit (from Content-Length, or while reading)."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > MAX_REQUEST_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def decode(raw: bytes, failure: str, yaml_allowed: bool = True) -> Any:
    """JSON (or, when `yaml_allowed` and the body is not JSON, YAML) of a request body; 400 `failure: why`."""
    if len(raw) <= _DECODE_INLINE_BYTES:
        return _decode(raw, failure, yaml_allowed)
    return await asyncio.to_thread(_decode, raw, failure, yaml_allowed)


def _decode(raw: bytes, failure: str, yaml_allowed: bool) -> Any:
    try:
        if not yaml_allowed or raw.lstrip()[:1] in (b"{", b"["):
            return orjson.loads(raw)
        return _safe_yaml(raw, failure)
    except (orjson.JSONDecodeError, yaml.YAMLError) as e:
        raise bad_request(f"{failure}: {e}") from e
    except RecursionError:
        raise bad_request(f"{failure}: nested too deeply") from None


def _safe_yaml(raw: bytes, failure: str) -> Any:
    loader = yaml.CSafeLoader(raw) if yaml.__with_libyaml__ else yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > _MAX_EXPANDED_NODES:
            # The text goyaml (under sigs.k8s.io/yaml) gives for the same attack.
            raise bad_request(f"{failure}: yaml: document contains excessive aliasing")
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """Nodes in the document once every alias is replaced by what it names (memoised: aliases share nodes)."""
    known = seen.get(id(node))
    if known is not None:
        return known
    seen[id(node)] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    seen[id(node)] = size
    return size
