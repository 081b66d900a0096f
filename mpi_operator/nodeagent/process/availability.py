"""Whether the process runtime can run on this machine, and if not, why: callers fall back to the
simulated runtime and print the reason.

Invariant: the probe changes nothing on the host; it tries each kernel feature the runtime uses (network,
mount, PID, UTS and IPC namespaces, veth, bridge, overlay over `/`) inside a throw-away set of namespaces.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile

from mpi_operator.nodeagent.process.tools import REQUIRED_TOOLS

PROGRAMS = {  # program -> the Debian package hack/install-node-deps.sh installs it from
    **{tool: "iproute2" if tool == "ip" else "util-linux" for tool in REQUIRED_TOOLS},
    "sshd": "openssh-server",
    "ssh": "openssh-client",
}
MPI_LAUNCHERS = {"mpirun.openmpi": "openmpi-bin", "mpirun.mpich": "mpich"}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PROBE = r"""
set -e
ip link add probe0 type veth peer name probe1
ip link add probe2 type bridge
mount -t tmpfs probe "$1"
mkdir "$1/l" "$1/u" "$1/w" "$1/m"
mount -t overlay probe -o "lowerdir=$1/l:/,upperdir=$1/u,workdir=$1/w" "$1/m"
"""


@functools.cache
def unavailable_reason() -> str | None:
    """None when the process runtime can run here, else a sentence saying what is missing."""
    if not sys.platform.startswith("linux"):
        return f"the process runtime needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the process runtime needs root (network namespaces, veths, mounts)"
    missing = [f"{program} ({package})" for program, package in PROGRAMS.items()
               if shutil.which(program, path=SEARCH_PATH) is None]
    if not any(shutil.which(launcher, path=SEARCH_PATH) for launcher in MPI_LAUNCHERS):
        missing.append("mpirun.openmpi or mpirun.mpich (openmpi-bin or mpich)")
    if missing:
        return f"not installed: {', '.join(missing)}; run hack/install-node-deps.sh as root"
    with open("/proc/filesystems") as filesystems:
        if "overlay" not in filesystems.read().split():
            return "the kernel has no overlay filesystem (modprobe overlay)"
    with tempfile.TemporaryDirectory(prefix="mpi-operator-probe-") as scratch:
        try:
            probe = subprocess.run(
                ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "sh", "-c", PROBE, "probe",
                 scratch],
                capture_output=True, text=True, timeout=30, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"creating namespaces failed: {error}"
    if probe.returncode != 0:
        return f"namespaces, veth, bridge or overlay refused here: {probe.stderr.strip() or probe.returncode}"
    return None
