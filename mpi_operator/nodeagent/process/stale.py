"""What a process runtime leaves on the node when its agent dies without closing it (SIGKILL, the OOM killer):
its network namespaces (pinned under /run/netns, with their veths) and its state directory. Its containers do
not outlive it: each dies with its waiter, and the waiter with the agent (pdeathsig).

Each runtime writes its owner into its state directory: the agent's pid, that process's start time and its PID
namespace, so neither a reused pid nor an agent in another PID namespace is taken for the owner. The next runtime
on the node removes what every runtime with a dead owner left. A state directory without an owner (being
claimed at this moment, or from a version that wrote none) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from mpi_operator.nodeagent.process.network import NETNS_DIR
from mpi_operator.nodeagent.process.tools import run_tool

OWNER_FILE = "owner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _pid_namespace(pid: int | str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def owner_record(pid: int) -> str:
    return f"{pid} {_start_time(pid)} {_pid_namespace(pid)}\n"


def claim(state_dir: Path) -> None:
    """Create `state_dir` with this process as its owner, in one step (a sweeper never sees it half made)."""
    if (state_dir / OWNER_FILE).exists():
        return
    state_dir.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".claim-", dir=state_dir.parent))
    (staging / OWNER_FILE).write_text(owner_record(os.getpid()))
    try:
        staging.rename(state_dir)
    except OSError:  # it exists already (made by this runtime before): add the owner to it
        shutil.rmtree(staging, ignore_errors=True)
        (state_dir / OWNER_FILE).write_text(owner_record(os.getpid()))


def owner_is_dead(state_dir: Path) -> bool:
    """True only when the recorded owner is certainly gone: same PID namespace, and no process of that pid and
    start time. No owner file, an unreadable one or another PID namespace: False (leave it alone)."""
    try:
        pid_text, started, namespace = (state_dir / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if namespace != _pid_namespace():
        return False
    return _start_time(pid) != started


def dead_runtimes(state_root: Path, own: Path) -> list[Path]:
    """The state directories under `state_root`, `own` aside, whose owner is dead."""
    if not state_root.is_dir():
        return []
    return [d for d in sorted(state_root.iterdir()) if d.is_dir() and d != own and owner_is_dead(d)]


def _remove_processes_and_files(state_dir: Path) -> list[str]:
    """Kill what still names `state_dir` (none expected: pdeathsig, but never leave one), delete the directory;
    returns the names of the runtime's network namespaces, for `ip netns del`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if str(state_dir).encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
    shutil.rmtree(state_dir, ignore_errors=True)
    return sorted(netns.name for netns in NETNS_DIR.glob(f"{state_dir.name}-*"))


async def sweep(state_root: Path, own: Path) -> list[str]:
    """Remove what runtimes with a dead owner left under `state_root` (never `own`); returns their names."""
    removed = []
    for state_dir in await asyncio.to_thread(dead_runtimes, state_root, own):
        for netns in await asyncio.to_thread(_remove_processes_and_files, state_dir):
            await run_tool("ip", "netns", "del", netns, check=False)
        removed.append(state_dir.name)
    return removed
