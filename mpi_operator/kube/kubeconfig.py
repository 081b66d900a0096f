"""A kubeconfig read the way the client's loader will read it, to say precisely what is wrong before it is used.

The loader (kubernetes_asyncio) fails on a broken kubeconfig with messages such as `'NoneType' object does not
support item assignment` or an `ssl.SSLError`. `check_kubeconfig` finds the same faults first and names the file,
where the path came from, the field (`clusters[prod].cluster.certificate-authority`) and what to do. It merges
several files (`$KUBECONFIG=a:b`) like the loader: named entries first-seen wins, `current-context` last wins.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mpi_operator.kube.errors import KubeError


class ConfigError(KubeError):
    """No usable cluster configuration was found; the message says what, where, and what to do."""


@dataclass(frozen=True)
class KubeconfigTarget:
    """What a kubeconfig points at: for messages such as "the API server at X (kubeconfig P, context C)"."""

    path: str
    context: str
    cluster: str
    server: str


@dataclass
class _Entry:
    value: dict[str, Any]
    path: Path  # the file it came from: relative file names in it are relative to this file's directory


def check_kubeconfig(paths: str, source: str, context: str | None = None, master: str = "") -> KubeconfigTarget:
    """Raise ConfigError naming the first fault of the kubeconfig at `paths` (os.pathsep-separated, from
    `source`, e.g. "--kubeconfig"); return what it points at. With `master`, the server URL may be absent."""
    files = [Path(os.path.expanduser(p)) for p in paths.split(os.pathsep) if p]
    present = [f for f in files if f.exists()]
    if not present:
        missing = ", ".join(str(f) for f in files) or "''"
        raise ConfigError(f"kubeconfig {missing} (from {source}): no such file; pass the path of an existing "
                          "kubeconfig")
    named: dict[str, dict[str, _Entry]] = {"clusters": {}, "contexts": {}, "users": {}}
    current = ""
    for file in present:
        doc = _read(file, source)
        where = f"kubeconfig {file} (from {source})"
        for section, entries in named.items():
            items = doc.get(section) or []
            if not isinstance(items, list):
                raise ConfigError(f"{where}: {section} must be a list of entries with a name")
            for i, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise ConfigError(f"{where}: {section}[{i}] has no name")
                entries.setdefault(item["name"], _Entry(item, file))
        if doc.get("current-context"):
            current = str(doc["current-context"])
    where = f"kubeconfig {present[0]} (from {source})" if len(present) == 1 else \
        f"kubeconfig {os.pathsep.join(map(str, present))} (from {source})"
    wanted = context or current
    if not wanted:
        raise ConfigError(f"{where}: no current-context is set; choose one with `kubectl config use-context NAME` "
                          f"(contexts: {_names(named['contexts'])})")
    ctx = _lookup(named, "contexts", wanted, where, "current-context" if not context else "the context")
    body = ctx.value.get("context")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: contexts[{wanted}].context is missing; it names a cluster and a user")
    cluster_name = str(body.get("cluster") or "")
    if not cluster_name:
        raise ConfigError(f"{where}: contexts[{wanted}].context.cluster is missing")
    cluster = _lookup(named, "clusters", cluster_name, where, f"contexts[{wanted}].context.cluster")
    server = _check_cluster(cluster, cluster_name, source, master)
    user_name = str(body.get("user") or "")
    if user_name:
        user = _lookup(named, "users", user_name, where, f"contexts[{wanted}].context.user")
        _check_user(user, user_name, source, tls=server.startswith("https"))
    return KubeconfigTarget(str(cluster.path), wanted, cluster_name, server)


def _read(file: Path, source: str) -> dict[str, Any]:
    where = f"kubeconfig {file} (from {source})"
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read it: {reason}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if doc is None:
        raise ConfigError(f"{where}: the file is empty; a kubeconfig lists clusters, users and contexts and sets "
                          "current-context (`kubectl config view` shows one)")
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: not a kubeconfig: the file holds a {type(doc).__name__}, not the mapping "
                          "`apiVersion: v1, kind: Config, clusters: ..., users: ..., contexts: ...`")
    return doc


def _names(entries: dict[str, _Entry]) -> str:
    return ", ".join(sorted(entries)) or "none"


def _lookup(named: dict[str, dict[str, _Entry]], section: str, name: str, where: str, field: str) -> _Entry:
    entry = named[section].get(name)
    if entry is None:
        raise ConfigError(f"{where}: {field} is {name!r}, but {section} has no entry of that name "
                          f"({section}: {_names(named[section])})")
    return entry


def _check_cluster(entry: _Entry, name: str, source: str, master: str) -> str:
    where = f"kubeconfig {entry.path} (from {source})"
    body = entry.value.get("cluster")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: clusters[{name}].cluster is missing; it holds at least the server URL")
    server = str(body.get("server") or "")
    if not server and not master:
        raise ConfigError(f"{where}: clusters[{name}].cluster.server is missing: set the API server's URL "
                          "(e.g. https://10.0.0.1:6443), or pass --master")
    parts = urlsplit(server)
    if server and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ConfigError(f"{where}: clusters[{name}].cluster.server {server!r} is not an http:// or https:// URL")
    if parts.scheme == "https":
        field = f"clusters[{name}].cluster.certificate-authority"
        pem = _file_or_data(entry, body, "certificate-authority", field, where)
        if body.get("certificate-authority-data"):
            field += "-data"
        if pem is not None:
            try:
                ssl.create_default_context().load_verify_locations(cadata=pem.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"{where}: {field}: holds no usable PEM certificate ({exc}); it must be the CA "
                                  "certificate that signed the API server's certificate") from None
    return master or server


def _check_user(entry: _Entry, name: str, source: str, tls: bool) -> None:
    where = f"kubeconfig {entry.path} (from {source})"
    body = entry.value.get("user")
    if body is None:
        return  # an anonymous user
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: users[{name}].user must be a mapping (token, client-certificate, exec, ...)")
    field = f"users[{name}].user"
    if tls:
        cert = _file_or_data(entry, body, "client-certificate", f"{field}.client-certificate", where)
        key = _file_or_data(entry, body, "client-key", f"{field}.client-key", where)
        if (cert is None) != (key is None):
            raise ConfigError(f"{where}: {field} has a client-certificate without a client-key, or the other way "
                              "round; give both")
    token_file = body.get("tokenFile")
    if token_file:
        _readable(_resolve(entry, str(token_file)), f"{field}.tokenFile", where)
    exec_spec = body.get("exec")
    if isinstance(exec_spec, dict):
        command = str(exec_spec.get("command") or "")
        if not command:
            raise ConfigError(f"{where}: {field}.exec.command is missing")
        found = shutil.which(command) if os.sep not in command else (command if os.access(command, os.X_OK)
                                                                       else None)
        if found is None:
            raise ConfigError(f"{where}: {field}.exec.command {command!r} is not an executable on PATH; install "
                              "the credential plugin or fix the command")


def _file_or_data(entry: _Entry, body: dict[str, Any], key: str, field: str, where: str) -> bytes | None:
    """The bytes of `key` (a file name) or `key-data` (base64), checked; None when neither is set."""
    data = body.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode("".join(str(data).split()), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where}: {field}-data is not base64; it holds the PEM file, base64-encoded "
                              "(`base64 -w0 file`)") from None
    name = body.get(key)
    if not name:
        return None
    return _readable(_resolve(entry, str(name)), field, where)


def _resolve(entry: _Entry, name: str) -> Path:
    path = Path(os.path.expanduser(name))
    return path if path.is_absolute() else entry.path.parent / path


def _readable(path: Path, field: str, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: {field}: cannot read {path}: {exc.strerror}") from None
