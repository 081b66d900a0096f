"""Real helm v4 for the chart tests: found through HELM_BIN, else built once by hack/helm.sh (cached).

`Helm` runs the binary with its own empty HELM_{CACHE,CONFIG,DATA}_HOME (no repositories, no plugins, nothing
read from or written to the user's ~/.config) and without KUBECONFIG, so only the kubeconfig a test names is
used. `unavailable()` says why helm cannot be had (no Go), which the tests turn into a loud skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CHART = REPO / "manifests" / "charts" / "mpi-operator"
BUILD_SCRIPT = REPO / "hack" / "helm.sh"
JSON = dict[str, Any]


class HelmUnavailable(Exception):
    """helm cannot be had on this machine; the message says why and what to do."""


@cache
def binary() -> Path:
    """The helm v4 binary: $HELM_BIN, else hack/helm.sh's cached build (built on first use)."""
    if not os.environ.get("HELM_BIN") and shutil.which("go") is None:
        raise HelmUnavailable("Go is not installed, so helm cannot be built from its Go module; install Go >= 1.26 "
                              "or set HELM_BIN to a helm v4 binary")
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HelmUnavailable(f"{BUILD_SCRIPT} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def unavailable() -> str | None:
    try:
        binary()
    except HelmUnavailable as e:
        return str(e)
    return None


SKIPPED: list[str] = []  # why helm was missing, for the loud line at the end of the run (tests/helm/conftest.py)


def require() -> None:
    """Skip the calling test when helm cannot be had (loudly); with CI=true fail instead."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires helm: {reason}")
    SKIPPED.append(reason)
    pytest.skip(f"helm unavailable: {reason}")


class Helm:
    """helm with an isolated home; `kubeconfig` is the cluster it talks to (none for template and lint)."""

    def __init__(self, kubeconfig: Path | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.home = Path(tempfile.mkdtemp(prefix="helm-home-"))

    def run(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "HELM_"))}
        env.update(HELM_CACHE_HOME=str(self.home / "cache"), HELM_CONFIG_HOME=str(self.home / "config"),
                   HELM_DATA_HOME=str(self.home / "data"))
        argv = [str(binary()), *args]
        if self.kubeconfig is not None:
            argv += ["--kubeconfig", str(self.kubeconfig)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done

    def template(self, values: JSON | None = None, *, release: str = "mpi-operator",
                 namespace: str = "mpi-operator", crds: bool = False) -> list[JSON]:
        """`helm template` of the chart with `values` (a values file), as parsed objects."""
        args = ["template", release, str(CHART), "--namespace", namespace, *self.values_args(values)]
        if crds:
            args.append("--include-crds")
        return [doc for doc in yaml.safe_load_all(self.run(*args).stdout) if doc]

    def values_args(self, values: JSON | None) -> list[str]:
        if not values:
            return []
        path = self.home / f"values-{len(list(self.home.glob('values-*')))}.yaml"
        path.write_text(yaml.safe_dump(values))
        return ["--values", str(path)]

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def find(docs: list[JSON], kind: str, name: str, namespace: str | None = None) -> JSON:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name
               and (namespace is None or d["metadata"].get("namespace") == namespace)]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def container(docs: list[JSON], name: str = "mpi-operator") -> JSON:
    containers = find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])
