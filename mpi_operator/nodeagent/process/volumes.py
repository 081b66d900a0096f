"""Pod volumes on the node: the kubelet's atomic writer for Secret/ConfigMap/downward-API files, emptyDir
directories, hostPath sources, and the resolution of a mount's subPath.

Invariant (atomic writer): the user-visible names are symlinks through `..data`, itself a symlink to a
timestamped payload directory; an update writes a new payload and renames `..data` over the old one, so a
container sees the whole old set of files or the whole new one. Files are root-owned with the given modes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from mpi_operator.nodeagent.runtime import StartError, VolumeFile

DATA_LINK = "..data"
EMPTY_DIR_MODE = 0o777   # as the kubelet creates emptyDir volumes


def make_dirs(path: Path, mode: int = 0o755) -> None:
    """mkdir -p whose new directories all get `mode`, whatever the process umask."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir()
        directory.chmod(mode)


def _relative_parts(path: str) -> tuple[str, ...]:
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or any(p in ("..", ".") for p in parts) \
            or parts[0].startswith(".."):
        raise StartError(f"volume file path {path!r} must be relative, without '..' or a leading '..'")
    return parts


def write_files(directory: Path, files: Iterable[VolumeFile]) -> None:
    """Create or update an atomic-writer volume in `directory` (created 0755 if missing)."""
    files = list(files)
    tops = {_relative_parts(f.path)[0] for f in files}
    make_dirs(directory)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    payload = Path(tempfile.mkdtemp(prefix=stamp, dir=directory))
    payload.chmod(0o755)
    for item in files:
        target = payload.joinpath(*_relative_parts(item.path))
        make_dirs(target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(item.data)
            os.fchmod(file.fileno(), item.mode & 0o7777)
    old_payload = os.readlink(directory / DATA_LINK) if (directory / DATA_LINK).is_symlink() else None

    # The swap: a fresh link renamed over ..data is one atomic step.
    temporary_link = directory / f"{DATA_LINK}_tmp"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(payload.name)
    os.replace(temporary_link, directory / DATA_LINK)

    for top in tops:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{top}")
    for entry in directory.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old_payload and old_payload != payload.name:
        shutil.rmtree(directory / old_payload, ignore_errors=True)


def make_empty_dir(directory: Path) -> None:
    if not directory.is_dir():
        make_dirs(directory, EMPTY_DIR_MODE)


def mount_source(volume_root: Path, sub_path: str, *, create: bool) -> Path:
    """The node path a mount binds: the volume's root or its subPath, resolved (symlinks followed) and kept
    inside the volume (CVE-2017-1002101). `create`: make a missing subPath directory (emptyDir, hostPath),
    as the kubelet does; an atomic-writer volume's subPath must exist."""
    root = volume_root.resolve(strict=True)
    if not sub_path:
        return root
    parts = PurePosixPath(sub_path).parts
    if PurePosixPath(sub_path).is_absolute() or ".." in parts:
        raise StartError(f"subPath {sub_path!r} must be a relative path without '..'")
    candidate = root.joinpath(*parts)
    if create and not os.path.lexists(candidate):
        make_dirs(candidate, EMPTY_DIR_MODE)
    try:
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise StartError(f"subPath {sub_path!r} does not exist in the volume") from None
    if resolved != root and root not in resolved.parents:
        raise StartError(f"subPath {sub_path!r} resolves outside its volume")
    return resolved
