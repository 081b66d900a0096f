"""Just enough Kubernetes protobuf decoding for the bodies kubectl's typed generators send.

`kubectl create namespace|configmap|secret|serviceaccount|priorityclass` POST `application/vnd.kubernetes.protobuf` (a
`k8s\\x00` magic, then a runtime.Unknown holding the object's protobuf) and do not fall back to JSON. Those kinds
are decoded here into the JSON shape; any other protobuf body is answered 415, like an unsupported media type.
Field numbers are those of k8s.io/api generated.proto.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# field number -> (json name, kind); kinds: str, int, bool, b64 (bytes as base64), strs (repeated string),
# map (string->string), mapb64 (string->bytes), or a nested schema dict.
Schema = dict[int, tuple[str, Any]]
OBJECT_META: Schema = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 5: ("uid", "str"),
                       6: ("resourceVersion", "str"), 7: ("generation", "int"), 11: ("labels", "map"),
                       12: ("annotations", "map"), 14: ("finalizers", "strs")}
LOCAL_REF: Schema = {1: ("name", "str")}
KINDS: dict[str, Schema] = {
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", "map"), 3: ("binaryData", "mapb64"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", "mapb64"), 3: ("type", "str"), 4: ("stringData", "map"),
               5: ("immutable", "bool")},
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", "strs")})},
    "ServiceAccount": {1: ("metadata", OBJECT_META), 3: ("imagePullSecrets", ("list", LOCAL_REF)),
                       4: ("automountServiceAccountToken", "bool")},
    "PriorityClass": {1: ("metadata", OBJECT_META), 2: ("value", "int"), 3: ("globalDefault", "bool"),
                      4: ("description", "str"), 5: ("preemptionPolicy", "str")},
}
_TYPE_META: Schema = {1: ("apiVersion", "str"), 2: ("kind", "str")}
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META), 2: ("raw", "raw"), 3: ("contentEncoding", "str"),
                    4: ("contentType", "str")}


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, value))
        elif wire == 2:
            size, i = _varint(buf, i)
            out.append((number, buf[i:i + size]))
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _message(buf: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(buf):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            obj[name] = _message(_bytes(value), kind)
        elif isinstance(kind, tuple):
            obj.setdefault(name, []).append(_message(_bytes(value), kind[1]))
        elif kind == "str":
            if value:  # Go marshals empty strings too; JSON would omit them
                obj[name] = _bytes(value).decode()
        elif kind == "raw":
            obj[name] = _bytes(value)
        elif kind == "int":
            if value:
                obj[name] = value if isinstance(value, int) and value < 1 << 63 else int(value) - (1 << 64)
        elif kind == "bool":
            obj[name] = bool(value)
        elif kind == "strs":
            obj.setdefault(name, []).append(_bytes(value).decode())
        elif kind in ("map", "mapb64"):
            entry = dict(_fields(_bytes(value)))
            key = _bytes(entry.get(1, b"")).decode()
            raw = _bytes(entry.get(2, b""))
            obj.setdefault(name, {})[key] = base64.b64encode(raw).decode() if kind == "mapb64" else raw.decode()
    return obj


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object as its JSON dict; ProtobufError when the kind or encoding is not supported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    unknown = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = unknown.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    schema = KINDS.get(kind)
    if schema is None:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported by the sandbox; send JSON")
    obj = _message(unknown.get("raw", b""), schema)
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
