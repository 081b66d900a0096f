"""Process signals as an asyncio event: SIGTERM/SIGINT request a graceful shutdown; a second one forces exit.

The caller awaits the event, then stops taking keys, drains in-flight work within its bound, releases the lease
and closes streams, in that order. Without a usable signal API (not the main thread) nothing is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

log = logging.getLogger(__name__)


def install_shutdown_signals(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
                             ) -> asyncio.Event:
    """An event set by the first of `signals`; the second such signal exits the process at once (code 1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.error("second signal; exiting without cleanup", extra={"signal": sig.name})
            os._exit(1)
        log.info("shutdown requested", extra={"signal": sig.name})
        stop.set()

    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            log.debug("cannot install signal handler", extra={"signal": sig.name})
    return stop


def remove_shutdown_signals(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    loop = asyncio.get_running_loop()
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)
