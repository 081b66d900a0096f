"""The first process of a container: PID 1 of fresh mount, UTS, IPC and PID namespaces (inside the pod's
network namespace; container.py starts it), it builds the container's root and then becomes the container's
command (`exec setpriv ... -- command`), so the command is PID 1 and its exit ends the whole namespace.

The root: an overlay of the image's layer (copied into a tmpfs) over the node's `/`, its upper directory
in that tmpfs, so writes land there and vanish with the container; fresh /proc, /sys (read-only), a
minimal /dev, tmpfs /tmp and /dev/shm, the pod's name-service directory, the volumes. Invariant: nothing
is mounted outside this mount namespace, so no mount survives the container. Stdlib only, because it runs
with `python -I` before the project's packages could be trusted in the new root.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import stat
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
OLD_ROOT = "/.oldroot"
POD_DIR = "/etc/.pod"
POD_FILES = ("hosts", "resolv.conf", "hostname")
BOOT_ID = "/proc/sys/kernel/random/boot_id"
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
OPAQUE_XATTR = "trusted.overlay.opaque"

libc = ctypes.CDLL(None, use_errno=True)


class InitError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise InitError(f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(libc.mount(_bytes(source), target.encode(), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {fstype or 'bind'} {source} on {target}")


def copy_layer(source: str, target: str) -> None:
    """Copy the image layer keeping what overlayfs reads: modes, owners, symlinks, whiteouts (0/0 character
    devices) and opaque-directory attributes."""
    info = os.lstat(source)
    if stat.S_ISDIR(info.st_mode):
        os.mkdir(target)
        for name in os.listdir(source):
            copy_layer(os.path.join(source, name), os.path.join(target, name))
        with contextlib.suppress(OSError):   # no such attribute: an ordinary directory
            os.setxattr(target, OPAQUE_XATTR, os.getxattr(source, OPAQUE_XATTR))
    elif stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISCHR(info.st_mode):
        os.mknod(target, info.st_mode, info.st_rdev)
    else:
        shutil.copyfile(source, target)
    os.lchown(target, info.st_uid, info.st_gid)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(target, stat.S_IMODE(info.st_mode))


def make_dev(root: str) -> None:
    dev = f"{root}/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=64k")
    for name, (major, minor) in DEVICES.items():
        os.mknod(f"{dev}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)
    os.mkdir(f"{dev}/pts")
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    os.mkdir(f"{dev}/shm")
    mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")


def make_mount_point(target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        if not os.path.lexists(target):
            with open(target, "x"):
                pass


def bind_fd(fd: int, target: str, read_only: bool) -> None:
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def resolve_command(command: str, path: str) -> str:
    """As runc does: a name without '/' is looked up in the container's PATH."""
    candidates = [command] if "/" in command else [os.path.join(d or ".", command) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    where = "" if "/" in command else " in $PATH"
    raise InitError(f'exec: "{command}": executable file not found{where}')


def build_root(spec: dict[str, Any]) -> None:
    staging = spec["staging"]
    mount("tmpfs", staging, "tmpfs", 0, "mode=700")
    copy_layer(spec["layer"], f"{staging}/layer")
    for name in ("upper", "work", "root"):
        os.mkdir(f"{staging}/{name}")
    os.chmod(f"{staging}/upper", 0o755)
    root = f"{staging}/root"
    mount("overlay", root, "overlay", 0,
          f"lowerdir={staging}/layer:/,upperdir={staging}/upper,workdir={staging}/work")

    # Sources are opened on the node's tree, before the pivot, so no path is resolved twice.
    pod_fd = os.open(spec["pod_dir"], os.O_PATH | os.O_CLOEXEC)
    boot_id_fd = os.open(spec["boot_id"], os.O_PATH | os.O_CLOEXEC)
    mount_fds = [os.open(m["source"], os.O_PATH | os.O_CLOEXEC) for m in spec["mounts"]]

    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", f"{root}/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    make_dev(root)
    mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")

    os.chdir(root)
    os.makedirs(f"{root}{OLD_ROOT}", exist_ok=True)
    arch = platform.machine()
    if arch not in PIVOT_ROOT:
        raise InitError(f"pivot_root: unsupported architecture {arch}")
    _check(libc.syscall(PIVOT_ROOT[arch], b".", OLD_ROOT.lstrip("/").encode()), "pivot_root")
    os.chdir("/")

    # Paths below are inside the container's root now, so a symlink in a mount path stays inside it.
    # One kernel serves every node of the runtime; a boot id per node keeps software that tells hosts
    # apart by it (UCX, under MPICH) from taking two nodes for one and using shared memory between them.
    bind_fd(boot_id_fd, BOOT_ID, True)
    os.close(boot_id_fd)
    make_mount_point(POD_DIR, True)
    bind_fd(pod_fd, POD_DIR, True)
    for name in POD_FILES:
        link = f"/etc/{name}"
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(f".pod/{name}", link)
    for fd, entry in zip(mount_fds, spec["mounts"], strict=True):
        make_mount_point(entry["target"], stat.S_ISDIR(os.fstat(fd).st_mode))
        bind_fd(fd, entry["target"], bool(entry["read_only"]))
        os.close(fd)
    os.close(pod_fd)
    _check(libc.umount2(OLD_ROOT.encode(), MNT_DETACH), "umount old root")
    os.rmdir(OLD_ROOT)
    hostname = spec["hostname"].encode()
    _check(libc.sethostname(hostname, len(hostname)), "sethostname")


def setpriv_argv(spec: dict[str, Any], command: str) -> list[str]:
    groups = ",".join(str(g) for g in spec["groups"])
    return [
        "/usr/bin/setpriv",
        "--reuid", str(spec["uid"]), "--regid", str(spec["gid"]),
        *(["--groups", groups] if groups else ["--clear-groups"]),
        "--bounding-set", "-all," + ",".join(f"+{c}" for c in spec["capabilities"]),
        "--inh-caps", "-all",
        "--pdeathsig", "KILL",   # set after the uid change, which clears it: the container dies with its waiter
        "--", command, *spec["argv"][1:],
    ]


def main() -> int:
    # Until setpriv sets it again for the command: die with the waiter, e.g. when a start is abandoned.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    os.unlink(sys.argv[1])
    status = os.fdopen(spec["status_fd"], "w")
    env = dict(spec["env"])
    try:
        build_root(spec)
        resolve_command(spec["argv"][0], env.get("PATH", ""))   # fail here (RunContainerError), not in setpriv
        os.makedirs(spec["cwd"], exist_ok=True)
        os.chdir(spec["cwd"])
        argv = setpriv_argv(spec, spec["argv"][0])
    except (InitError, OSError) as error:
        status.write(f"error {error}\n")
        status.close()
        return 127
    status.write("ok\n")
    status.close()
    os.execve(argv[0], argv, env)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
