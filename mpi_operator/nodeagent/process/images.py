"""Image references to images this node can run: the one mapping file (`images.yaml`) read and resolved
through its `from` chain into an ImageConfig (the Dockerfile's USER, WORKDIR, ENTRYPOINT, CMD, ENV and
the files it adds).

Invariant: a reference that is not in the file, or whose image cannot run here (a Debian package missing,
`unavailable`), raises ImageError with a message the pod's status can show; nothing else is guessed.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mpi_operator.nodeagent.process.accounts import ImageUser
from mpi_operator.nodeagent.process.pypi import PyPIInstall, parse_install
from mpi_operator.nodeagent.runtime import ImageError

IMAGE_MAP = Path(__file__).with_name("images.yaml")
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]   # sources named in the map are relative to it
DEFAULT_REGISTRY_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/")


@dataclass(frozen=True)
class AddedPath:
    """A file or directory the image adds. Exactly one of source (repository-relative), text or node (a
    node path copied in) for a file; none for a directory."""

    path: str
    mode: int | None = None
    owner: tuple[int, int] = (0, 0)
    source: str | None = None
    text: str | None = None
    node: str | None = None


@dataclass(frozen=True)
class Build:
    path: str
    source: str
    compiler: str
    flags: tuple[str, ...] = ()
    owner: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ImageConfig:
    reference: str                       # as the pod named it
    key: str                             # the map entry that matched
    lineage: tuple[str, ...]             # this entry and its `from` ancestors, nearest first
    user: tuple[int, int] = (0, 0)
    workdir: str = "/"
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    requires: dict[str, str] = field(default_factory=dict)
    debian_versions: dict[str, str] = field(default_factory=dict)   # package -> version prefix
    pypi: PyPIInstall | None = None
    unavailable: str | None = None
    users: tuple[ImageUser, ...] = ()
    hide: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    keep_top_level: tuple[str, ...] = ()
    dirs: tuple[AddedPath, ...] = ()
    files: tuple[AddedPath, ...] = ()
    alternatives: dict[str, str] = field(default_factory=dict)
    builds: tuple[Build, ...] = ()

    @property
    def repository(self) -> str:
        return split_reference(self.reference)[0]


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag) with Docker Hub's implicit prefixes dropped; no tag means `latest`; a digest is
    kept as the tag (`@sha256:...`), so only a repository-wide entry matches it."""
    name = reference.strip()
    for prefix in DEFAULT_REGISTRY_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if "@" in name:
        repository, digest = name.split("@", 1)
        return repository, "@" + digest
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"


def _owner(value: Any) -> tuple[int, int]:
    if value is None:
        return (0, 0)
    uid, _, gid = str(value).partition(":")
    return (int(uid), int(gid or uid))


def _mode(value: Any) -> int | None:
    return None if value is None else int(str(value), 8)


def _added(item: dict[str, Any]) -> AddedPath:
    return AddedPath(
        path=str(item["path"]), mode=_mode(item.get("mode")), owner=_owner(item.get("owner")),
        source=item.get("source"), text=item.get("text"), node=item.get("node"),
    )


class ImageMap:
    """The parsed mapping file; `resolve` is the only way to an ImageConfig."""

    def __init__(self, path: Path = IMAGE_MAP, repository_root: Path = REPOSITORY_ROOT) -> None:
        self.path = path
        self.repository_root = repository_root
        document = yaml.safe_load(path.read_text()) or {}
        self.entries: dict[str, dict[str, Any]] = dict(document.get("images") or {})

    def match(self, reference: str) -> str | None:
        repository, tag = split_reference(reference)
        for key in (f"{repository}:{tag}", repository):
            if key in self.entries:
                return key
        return None

    def resolve(self, reference: str) -> ImageConfig:
        key = self.match(reference)
        if key is None:
            known = ", ".join(sorted(self.entries))
            raise ImageError(
                f"image {reference!r} is not available on this node: the process runtime runs only the "
                f"images in {self.path.name} ({known})"
            )
        config = self._merged(key, reference)
        if config.unavailable:
            raise ImageError(f"image {reference!r} cannot run on this node: {config.unavailable}")
        missing = [f"{path} (Debian package {package})" for path, package in config.requires.items()
                   if not os.path.exists(path)]
        if missing:
            raise ImageError(
                f"image {reference!r} needs {', '.join(missing)}, not installed on this node "
                "(run hack/install-node-deps.sh as root)"
            )
        wrong = [f"{package} {want}.* (the node has {debian_version(package) or 'none'})"
                 for package, want in config.debian_versions.items()
                 if not _version_matches(debian_version(package), want)]
        if wrong:
            raise ImageError(f"image {reference!r} needs Debian's {', '.join(wrong)}")
        if config.pypi is not None and not config.pypi.node_dir().is_dir():
            raise ImageError(
                f"image {reference!r} needs the PyPI build {' '.join(config.pypi.packages)}, not installed on "
                f"this node (run hack/install-node-deps.sh; it installs into {config.pypi.node_dir()})"
            )
        for item in [*config.files, *config.builds]:
            source = getattr(item, "source", None)
            if source and not (self.repository_root / source).is_file():
                raise ImageError(f"image {reference!r}: its source {source} is not in {self.repository_root}")
        return config

    def pypi_installs(self) -> list[PyPIInstall]:
        """Every PyPI build an entry (or what it is built from) names, once each."""
        found: dict[str, PyPIInstall] = {}
        for key in self.entries:
            spec = self._merged(key, key).pypi
            if spec is not None:
                found.setdefault(spec.name, spec)
        return list(found.values())

    @functools.cache  # noqa: B019 - the map lives as long as the runtime that reads it
    def _chain(self, key: str) -> tuple[str, ...]:
        chain: list[str] = []
        while key:
            if key in chain:
                raise ImageError(f"{self.path.name}: `from` loops through {key}")
            if key not in self.entries:
                raise ImageError(f"{self.path.name}: {chain[-1]} is built from {key}, which is not mapped")
            chain.append(key)
            key = str(self.entries[key].get("from") or "")
        return tuple(chain)

    def _merged(self, key: str, reference: str) -> ImageConfig:
        merged: dict[str, Any] = {}
        lists = ("users", "hide", "remove", "keep_top_level", "dirs", "files", "builds")
        maps = ("env", "requires", "debian_versions", "alternatives")
        chain = self._chain(key)
        for name in reversed(chain):   # the base first; nearer entries override or extend it
            entry = self.entries[name]
            for field_name, value in entry.items():
                if field_name in lists:
                    merged[field_name] = [*merged.get(field_name, []), *value]
                elif field_name in maps:
                    merged[field_name] = {**merged.get(field_name, {}), **value}
                elif field_name not in ("from", "dockerfile"):
                    merged[field_name] = value
            if "entrypoint" in entry and "cmd" not in entry:
                merged["cmd"] = []   # Docker: setting ENTRYPOINT resets the CMD inherited from the base
        return ImageConfig(
            reference=reference,
            key=key,
            lineage=chain,
            user=_owner(merged.get("user")),
            workdir=str(merged.get("workdir") or "/"),
            entrypoint=tuple(merged.get("entrypoint") or ()),
            cmd=tuple(merged.get("cmd") or ()),
            env={str(k): str(v) for k, v in (merged.get("env") or {}).items()},
            requires={str(k): str(v) for k, v in (merged.get("requires") or {}).items()},
            debian_versions={str(k): str(v) for k, v in (merged.get("debian_versions") or {}).items()},
            pypi=parse_install(merged.get("pypi")),
            unavailable=merged.get("unavailable"),
            users=tuple(ImageUser(**u) for u in merged.get("users", [])),
            hide=tuple(merged.get("hide", [])),
            remove=tuple(merged.get("remove", [])),
            keep_top_level=tuple(merged.get("keep_top_level", [])),
            dirs=tuple(_added(d) for d in merged.get("dirs", [])),
            files=tuple(_added(f) for f in merged.get("files", [])),
            alternatives={str(k): str(v) for k, v in (merged.get("alternatives") or {}).items()},
            builds=tuple(
                Build(path=b["path"], source=b["source"], compiler=b["compiler"],
                      flags=tuple(b.get("flags") or ()), owner=_owner(b.get("owner")))
                for b in merged.get("builds", [])
            ),
        )


@functools.cache
def debian_version(package: str) -> str:
    """The installed version of a Debian package ('' when not installed or no dpkg)."""
    try:
        query = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                               check=False)
    except OSError:
        return ""
    return query.stdout.strip() if query.returncode == 0 else ""


def _version_matches(version: str, want: str) -> bool:
    """`4.1` matches 4.1.4-3+b1 (an epoch `1:` is ignored), not 4.10."""
    upstream = version.split(":", 1)[-1]
    return upstream == want or upstream.startswith(want + ".") or upstream.startswith(want + "-")
