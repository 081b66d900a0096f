"""Where the control plane's binaries come from: `KUBEBUILDER_ASSETS`, else the project's cached build.

`hack/controlplane.sh` builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler from Go
modules at the versions pinned in `hack/controlplane/` and prints the cache directory; a second call
builds nothing. Without Go (and without KUBEBUILDER_ASSETS) `Unavailable` says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
ASSETS_ENV = "KUBEBUILDER_ASSETS"
REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "controlplane.sh"


class Unavailable(Exception):
    """The control plane cannot be had on this machine; the message says why and what to do."""


def _complete(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in BINARIES)


def locate(build: bool = True) -> Path:
    """The directory holding all four binaries, building them (cached) when needed and allowed."""
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        if not _complete(Path(assets)):
            raise Unavailable(f"{ASSETS_ENV}={assets} does not hold all of {', '.join(BINARIES)}")
        return Path(assets)
    if not BUILD_SCRIPT.is_file():
        raise Unavailable(f"no {BUILD_SCRIPT} (not a source checkout); set {ASSETS_ENV} to a directory with "
                          f"{', '.join(BINARIES)}")
    if shutil.which("go") is None:
        raise Unavailable(f"Go is not installed, so the control plane cannot be built from Go modules; install "
                          f"Go >= 1.26 or set {ASSETS_ENV} to a directory with {', '.join(BINARIES)}")
    if not build:
        raise Unavailable("the control plane is not built yet (run `make controlplane`)")
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Unavailable(f"{BUILD_SCRIPT} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    directory = Path(done.stdout.strip().splitlines()[-1])
    if not _complete(directory):
        raise Unavailable(f"{BUILD_SCRIPT} printed {directory}, which lacks some of {', '.join(BINARIES)}")
    return directory
