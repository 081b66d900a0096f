"""The host programs the process runtime drives (iproute2, util-linux) and one way to run them.

Invariant: every call waits for the program and raises ToolError with its stderr when it fails; nothing
here runs a shell, so no argument is ever interpreted twice.
"""

from __future__ import annotations

import asyncio
import shutil

# util-linux and iproute2: what a node needs besides the MPI and OpenSSH packages.
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "setpriv")


class ToolError(RuntimeError):
    """A host program failed; the message has its command line and what it printed."""


def tool_path(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise ToolError(f"{name} is not installed (hack/install-node-deps.sh installs it)")
    return path


async def run_tool(*argv: str, stdin: bytes | None = None, check: bool = True) -> str:
    """Run `argv` (argv[0] looked up with tool_path), return its stdout."""
    process = await asyncio.create_subprocess_exec(
        tool_path(argv[0]), *argv[1:],
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    if check and process.returncode != 0:
        detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise ToolError(f"{' '.join(argv)}: exit {process.returncode}: {detail}")
    return out.decode(errors="replace")
