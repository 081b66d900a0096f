"""SIGTERM becomes a shutdown event instead of killing the process."""

from __future__ import annotations

import asyncio
import os
import signal

from mpi_operator.kube.signals import install_shutdown_signals, remove_shutdown_signals


async def test_sigterm_sets_the_shutdown_event() -> None:
    stop = install_shutdown_signals()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        remove_shutdown_signals()
