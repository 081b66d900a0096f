"""Kubeconfig for the sandbox: plain http on loopback, one cluster, one token user, one current context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "sandbox"


def kubeconfig(url: str, token: str = "sandbox-token", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: str | os.PathLike[str], url: str, namespace: str = "default") -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(kubeconfig(url, namespace=namespace), sort_keys=False))
    out.chmod(0o600)
    return out
