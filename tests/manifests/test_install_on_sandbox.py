"""The rendered install is accepted by an API server: `kubectl apply` of every overlay against the sandbox
(server-side schema checks for the CRD, pruning and validation of every built-in object) creates each object."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mpi_operator.sandbox import Sandbox
from tests.manifests.kustomize import KUBECTL, MANIFESTS, OVERLAYS

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: Any) -> AsyncIterator[tuple[Sandbox, Path]]:
    home: Path = tmp_path_factory.mktemp("home")
    async with Sandbox(port=0, kubeconfig_path=home / "kubeconfig", install_mpijob_crd=False) as sb:
        yield sb, home


async def kubectl(home: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Real kubectl as a child process (the sandbox serves it from this test's event loop meanwhile)."""
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "kubeconfig")}
    proc = await asyncio.create_subprocess_exec(str(KUBECTL), *args, env=env, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_every_rendered_object_is_accepted_by_the_sandbox(sandbox: tuple[Sandbox, Path], overlay: str) -> None:
    sb, home = sandbox
    if overlay == "kubeflow" and sb.store.find("namespaces", None, "kubeflow") is None:
        # The kubeflow overlay installs into Kubeflow's own namespace, which a Kubeflow install already has.
        sb.store.create("namespaces", None, {"metadata": {"name": "kubeflow"}})
    code, rendered, err = await kubectl(home, "kustomize", str(MANIFESTS / "overlays" / overlay))
    assert code == 0, err
    code, _, err = await kubectl(home, "apply", "-f", "-", stdin=rendered)
    assert code == 0, err
    for doc in yaml.safe_load_all(rendered):
        info = sb.store.registry.by_kind(doc["apiVersion"], doc["kind"])
        assert info is not None, f"the sandbox does not serve {doc['apiVersion']} {doc['kind']}"
        namespace = doc["metadata"].get("namespace") if info.namespaced else None
        assert sb.store.find(info.key, namespace, doc["metadata"]["name"]) is not None, (info.key, doc["metadata"])
