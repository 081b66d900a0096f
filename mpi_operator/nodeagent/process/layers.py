"""An image's layer: the directory of files the image adds over the node's root filesystem, built once
into a cache outside the repository (`~/.cache/mpi-operator/images/`) and keyed by a hash of everything
it is made from (the map entry, the sources, the node's accounts, the compilers, the alternatives).

Invariant: a layer directory, once renamed into place, is complete and never changed; a changed input
gives a new key, so a stale program is never run. Containers copy it (it is small) into their own tmpfs
because overlayfs refuses a lower layer that lies inside another one (`/`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mpi_operator.nodeagent.process import accounts
from mpi_operator.nodeagent.process.images import ImageConfig, ImageMap
from mpi_operator.nodeagent.process.staging import build_once
from mpi_operator.nodeagent.runtime import ImageError

LAYOUT_VERSION = "1"   # bump when the way a layer is laid out changes
OPAQUE_XATTR = "trusted.overlay.opaque"
NODE_ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow")
SKELETON = Path("/etc/skel")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mpi-operator" / "images"


@dataclass(frozen=True)
class Image:
    config: ImageConfig
    layer: Path        # the directory to lay over the node's root
    image_id: str      # `<repository>@sha256:<key>`, as a kubelet reports imageID


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return b""


def _alternative_slaves(name: str, target: str) -> dict[str, str]:
    """From `update-alternatives --query`: the link name -> path pairs of the alternative `target`,
    including the master itself (e.g. mpirun -> /usr/bin/mpirun.mpich, mpiexec -> /usr/bin/mpiexec.mpich)."""
    result = subprocess.run(["update-alternatives", "--query", name], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageError(f"the node has no alternative {name!r} (update-alternatives: {result.stderr.strip()})")
    links = {name: target}
    current: str | None = None
    in_slaves = False
    for line in result.stdout.splitlines():
        if line.startswith("Alternative: "):
            current = line.split(": ", 1)[1]
            in_slaves = False
        elif line.startswith("Slaves:"):
            in_slaves = current is not None
        elif in_slaves and line.startswith(" ") and current == target:
            slave, path = line.split()
            links[slave] = path
        elif not line.startswith(" "):
            in_slaves = False
    if target != links[name] or not os.path.exists(target):
        raise ImageError(f"alternative {name!r} has no choice {target}")
    return links


class LayerStore:
    """Builds and caches the layers of the images of one ImageMap."""

    def __init__(self, image_map: ImageMap, cache_dir: Path | None = None) -> None:
        self.image_map = image_map
        self.cache_dir = cache_dir or default_cache_dir()
        self._locks: dict[str, asyncio.Lock] = {}
        self._images: dict[str, Image] = {}

    async def image(self, reference: str) -> Image:
        """The image for `reference`, its layer built on first use; ImageError when it cannot run here."""
        config = self.image_map.resolve(reference)
        lock = self._locks.setdefault(config.key, asyncio.Lock())
        async with lock:
            cached = self._images.get(config.key)
            if cached is None:
                cached = await asyncio.to_thread(self._build, config)
                self._images[config.key] = cached
        return Image(config=config, layer=cached.layer, image_id=cached.image_id)

    # --- building (in a worker thread) ---

    def _key(self, config: ImageConfig) -> str:
        digest = hashlib.sha256(LAYOUT_VERSION.encode())
        description = asdict(config)
        description.pop("reference")
        digest.update(json.dumps(description, sort_keys=True, default=str).encode())
        for path in NODE_ACCOUNT_FILES:
            digest.update(_read(path))
        for skeleton_file in sorted(SKELETON.glob("*")) if SKELETON.is_dir() else []:
            digest.update(skeleton_file.name.encode() + _read(skeleton_file))
        for item in config.files:
            if item.source:
                digest.update(_read(self.image_map.repository_root / item.source))
            if item.node:
                digest.update(_read(item.node))
        for build in config.builds:
            digest.update(_read(self.image_map.repository_root / build.source))
            compiler = Path(_on_node(config, build.compiler)).resolve()
            stat = compiler.stat()
            digest.update(f"{compiler}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(json.dumps(sorted(os.listdir("/"))).encode())
        return digest.hexdigest()

    def _build(self, config: ImageConfig) -> Image:
        key = self._key(config)
        final = self.cache_dir / f"{config.key.replace('/', '_').replace(':', '_')}-{key[:16]}"
        image_id = f"{config.repository}@sha256:{key}"
        build_once(final, lambda staging: self._lay_out(config, staging), prefix=".build-")
        return Image(config=config, layer=final, image_id=image_id)

    def _lay_out(self, config: ImageConfig, root: Path) -> None:
        root.chmod(0o755)
        for name in sorted(os.listdir("/")):
            if config.keep_top_level and name not in config.keep_top_level:
                os.mknod(root / name, 0o600 | 0o020000, os.makedev(0, 0))   # an overlay whiteout
        for hidden in config.hide:
            directory = self._dir(root, hidden, 0o755 if hidden != "/root" else 0o700, (0, 0))
            os.setxattr(directory, OPAQUE_XATTR, b"y")
        if config.users:
            self._add_accounts(config, root)
        for item in config.dirs:
            self._dir(root, item.path, item.mode or 0o755, item.owner)
        for item in config.files:
            if item.source:
                data = (self.image_map.repository_root / item.source).read_bytes()
            elif item.node:
                data = Path(item.node).read_bytes()
            else:
                data = (item.text or "").encode()
            self._file(root, item.path, data, item.mode or 0o644, item.owner)
        for name, target in config.alternatives.items():
            alternatives = self._dir(root, "/etc/alternatives", 0o755, (0, 0))
            for link, path in _alternative_slaves(name, target).items():
                (alternatives / link).symlink_to(path)
        for removed in config.remove:   # last: what the image itself adds there wins
            whiteout = self._inside(root, removed)
            if not os.path.lexists(whiteout):
                os.mknod(whiteout, 0o600 | 0o020000, os.makedev(0, 0))   # an overlay whiteout
        for build in config.builds:
            output = self._inside(root, build.path)
            compiled = subprocess.run(
                [_on_node(config, build.compiler), str(self.image_map.repository_root / build.source),
                 *(_on_node(config, flag) for flag in build.flags), "-o", str(output)],
                capture_output=True, text=True, check=False,
            )
            if compiled.returncode != 0:
                raise ImageError(f"building {build.path} of {config.reference} failed: {compiled.stderr.strip()}")
            output.chmod(0o755)
            os.chown(output, *build.owner)

    def _add_accounts(self, config: ImageConfig, root: Path) -> None:
        users = list(config.users)
        days = int(time.time() // 86400)
        self._file(root, "/etc/passwd", accounts.with_users_passwd(_read("/etc/passwd").decode(), users).encode(),
                   0o644, (0, 0))
        self._file(root, "/etc/group", accounts.with_users_group(_read("/etc/group").decode(), users).encode(),
                   0o644, (0, 0))
        shadow = accounts.with_users_shadow(_read("/etc/shadow").decode(), users, days).encode()
        self._file(root, "/etc/shadow", shadow, 0o640, (0, _shadow_gid()))
        for user in users:   # useradd --create-home: the home from /etc/skel, owned by the user
            self._dir(root, user.home, 0o755, (user.uid, user.gid))
            for skeleton_file in sorted(SKELETON.glob("*")) if SKELETON.is_dir() else []:
                if skeleton_file.is_file():
                    self._file(root, f"{user.home}/{skeleton_file.name}", skeleton_file.read_bytes(), 0o644,
                               (user.uid, user.gid))

    @staticmethod
    def _inside(root: Path, path: str) -> Path:
        """`path` in the layer, its missing parents made as the node has them (the top layer's directory
        attributes are what a container sees)."""
        target = root / path.lstrip("/")
        for parent in reversed(Path(path).parents):
            inside = root / str(parent).lstrip("/")
            if parent == Path("/") or inside.exists():
                continue
            inside.mkdir()
            try:
                node = os.stat(parent)
                inside.chmod(node.st_mode & 0o7777)
                os.chown(inside, node.st_uid, node.st_gid)
            except FileNotFoundError:
                inside.chmod(0o755)
        return target

    def _dir(self, root: Path, path: str, mode: int, owner: tuple[int, int]) -> Path:
        directory = self._inside(root, path)
        directory.mkdir(exist_ok=True)
        directory.chmod(mode)
        os.chown(directory, *owner)
        return directory

    def _file(self, root: Path, path: str, data: bytes, mode: int, owner: tuple[int, int]) -> None:
        target = self._inside(root, path)
        target.write_bytes(data)
        target.chmod(mode)
        os.chown(target, *owner)


def _on_node(config: ImageConfig, word: str) -> str:
    """A build's compiler or flag with `{pypi}` standing for the node's prefix of the image's PyPI build (the
    build runs on the node; flags that name the image's own prefix, like an rpath, stay as written)."""
    if "{pypi}" not in word:
        return word
    if config.pypi is None:
        raise ImageError(f"{config.key}: a build names {{pypi}} but the image has no PyPI build")
    return word.replace("{pypi}", str(config.pypi.node_dir()))


def _shadow_gid() -> int:
    try:
        return Path("/etc/shadow").stat().st_gid
    except FileNotFoundError:
        return 0
