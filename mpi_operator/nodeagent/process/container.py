"""One running container: `nsenter --net=<pod> unshare --mount --uts --ipc --pid` and a waiting shell
whose one child, container_init, is PID 1 of the new PID namespace and becomes the container's command.

Invariant: the container's main process is signalled only through a pidfd (never a pid that may have been
reused); the waiter exits only after that PID 1 has, and the kernel ends every other process of a PID
namespace before its PID 1 is reported gone, so once `wait` returns nothing the container started is left
(sshd's session children, orted, hydra proxies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpi_operator.nodeagent.process import container_init
from mpi_operator.nodeagent.process.tools import tool_path
from mpi_operator.nodeagent.runtime import StartError

START_TIMEOUT = 60.0          # building the root is quick; this only bounds a hung start
WAITER = 'exec 2>/dev/null; "$@" 2>&1 & wait $!; exit $?'   # its own messages ("Killed") stay out of the log
HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


@dataclass(frozen=True)
class LaunchPlan:
    """Everything container_init needs, resolved by the runtime (see container_init.main)."""

    container_id: str
    image_id: str
    directory: Path              # the container's own state directory (spec, log, staging mount point)
    netns_path: str | None       # None: the node's network namespace (hostNetwork)
    init_spec: dict[str, Any]


def exit_code(returncode: int) -> int:
    """A container runtime's exit code: 128 + signal for a process killed by a signal."""
    return 128 - returncode if returncode < 0 else returncode


class ProcessContainer:
    def __init__(self, plan: LaunchPlan, process: asyncio.subprocess.Process, main_pidfd: int, pid_ns: str) -> None:
        self._plan = plan
        self._process = process
        self._pidfd = main_pidfd
        self.pid_namespace = pid_ns   # e.g. "pid:[4026532301]": what tests compare /proc/*/ns/pid with
        self._exited = asyncio.ensure_future(self._reap())

    @property
    def id(self) -> str:
        return self._plan.container_id

    @property
    def image_id(self) -> str:
        return self._plan.image_id

    @property
    def log_path(self) -> Path:
        return self._plan.directory / "log"

    @classmethod
    async def start(cls, plan: LaunchPlan) -> ProcessContainer:
        plan.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (plan.directory / "mnt").mkdir(mode=0o700, exist_ok=True)
        read_end, write_end = os.pipe()
        spec_path = plan.directory / "spec.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # holds env values: root only
        with os.fdopen(fd, "w") as file:
            json.dump({**plan.init_spec, "staging": str(plan.directory / "mnt"), "status_fd": write_end}, file)
        # sh, not `unshare --fork`, waits for the container's PID 1: unshare cannot pass on a SIGKILL death
        # (it exits 1 and says so in the log), while `wait` gives 128 + signal, the code a runtime reports.
        argv = [
            tool_path("unshare"), "--mount", "--uts", "--ipc", "--pid", "--",
            "/bin/sh", "-c", WAITER, "sh", sys.executable, "-I", container_init.__file__, str(spec_path),
        ]
        if plan.netns_path is not None:
            argv = [tool_path("nsenter"), f"--net={plan.netns_path}", "--", *argv]
        # The waiter dies with the runtime's thread, and the container with the waiter (setpriv in init).
        argv = [tool_path("setpriv"), "--pdeathsig", "KILL", "--", *argv]
        log = os.open(plan.directory / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(write_end,), env=HOST_ENV, start_new_session=True,
            )
        finally:
            os.close(log)
            os.close(write_end)
        try:
            status = await asyncio.wait_for(_read_line(read_end), START_TIMEOUT)
            if status != "ok":
                # init exits by itself after saying why; the waiter follows it, so nothing is left.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), START_TIMEOUT)
                message = status.removeprefix("error ").strip() or _tail(plan.directory / "log")
                raise StartError(message or f"container init exited with {process.returncode}")
            pidfd, pid_ns = _open_main_process(process.pid)
        except BaseException:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()   # init dies with its waiter (its parent-death signal)
                await process.wait()
            spec_path.unlink(missing_ok=True)
            raise
        finally:
            os.close(read_end)
        return cls(plan, process, pidfd, pid_ns)

    async def _reap(self) -> int:
        code = exit_code(await self._process.wait())
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        return code

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def wait_done(self) -> bool:
        """Whether the container has exited (wait() would return at once)."""
        return self._exited.done()

    async def wait_ready(self) -> None:
        """Readiness is the agent's business (probes); a started process is ready as far as we know."""

    def signal(self, signum: int) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    async def stop(self, grace: float) -> None:
        if self._exited.done():
            return
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), max(grace, 0.0))
        except TimeoutError:
            self.signal(signal.SIGKILL)
            await asyncio.shield(self._exited)

    def logs(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""


async def _read_line(fd: int) -> str:
    """One line from the status pipe (empty if init died before writing one), without blocking the loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(os.dup(fd), "rb")
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        return (await reader.readline()).decode(errors="replace").strip()
    finally:
        transport.close()


def _open_main_process(unshare_pid: int) -> tuple[int, str]:
    """A pidfd for the waiter's only child (the container's PID 1 as the node sees it) and its PID
    namespace; (-1, "") when the command has already finished. The child's parent is checked after the
    pidfd is taken: the waiter forks once, so a matching parent proves the pid was not reused in between."""
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return -1, ""
    if not children:
        return -1, ""
    main_pid = int(children[0])
    try:
        pidfd = os.pidfd_open(main_pid)
    except ProcessLookupError:
        return -1, ""
    try:
        parent = Path(f"/proc/{main_pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        pid_ns = os.readlink(f"/proc/{main_pid}/ns/pid")
    except (FileNotFoundError, ProcessLookupError):
        os.close(pidfd)
        return -1, ""
    if int(parent) != unshare_pid:
        os.close(pidfd)
        return -1, ""
    return pidfd, pid_ns


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip()
    except FileNotFoundError:
        return ""
