"""What a process runtime may have left on the node: processes, network namespaces, mounts, veths and
files. Read from /proc, /run/netns and the state directory only, so the check itself changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mpi_operator.nodeagent.process import ProcessRuntime

NETNS_DIR = Path("/run/netns")


def processes_in(pid_namespaces: set[str]) -> list[str]:
    """`pid (comm)` of every node process whose PID namespace is one of `pid_namespaces`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") in pid_namespaces:
                found.append(f"{entry.name} ({(entry / 'comm').read_text().strip()})")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def processes_mentioning(text: str) -> list[str]:
    """Node processes whose command line contains `text` (the runtime's init and unshare name its state)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(entry.name)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def runtime_leftovers(runtime: ProcessRuntime, pid_namespaces: set[str]) -> list[str]:
    """Everything of `runtime` still on the node after `close` (empty when it cleaned up)."""
    problems = [f"process {p} of a container" for p in processes_in(pid_namespaces)]
    problems += [f"process {p} names the state directory" for p in processes_mentioning(str(runtime.state_dir))]
    problems += [f"network namespace {n.name}" for n in NETNS_DIR.glob(f"{runtime.prefix}-*")]
    mounts = Path("/proc/self/mountinfo").read_text()
    problems += [f"mount {line}" for line in mounts.splitlines() if runtime.prefix in line]
    if runtime.state_dir.exists():
        problems.append(f"state directory {runtime.state_dir}")
    return problems


def bridge_links(runtime: ProcessRuntime) -> list[str]:
    """The interfaces in the runtime's bridge namespace (empty when it is gone)."""
    if not (NETNS_DIR / runtime.network.bridge_netns).exists():
        return []
    out = subprocess.run(["ip", "-n", runtime.network.bridge_netns, "-o", "link"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
