"""Keys marked from a store listener and handed over in one deferred batch: how the simulators react to changes.

A store listener runs inside the write path and must not write; it marks keys here instead. The first mark
schedules one flush (`call_soon`, or `call_later(delay)` to batch like a controller's sync period); the flush
takes the whole set, so a key marked many times before it runs is processed once, and keys marked during the
flush (by the writes it makes) wait for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K")


class ChangeQueue(Generic[K]):
    def __init__(self, process: Callable[[K], None], delay: float = 0.0) -> None:
        self.process = process
        self.delay = delay
        self._keys: set[K] = set()
        self._handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def close(self) -> None:
        """Drop pending keys; later marks are ignored (late timers must not write any more)."""
        self._loop = None
        self._keys.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def idle(self) -> bool:
        return not self._keys

    def mark(self, key: K) -> None:
        if self._loop is None:
            return
        self._keys.add(key)
        if self._handle is None:
            self._handle = (self._loop.call_later(self.delay, self._flush) if self.delay > 0
                            else self._loop.call_soon(self._flush))

    def discard(self, key: K) -> None:
        self._keys.discard(key)

    def _flush(self) -> None:
        self._handle = None
        keys, self._keys = self._keys, set()
        for key in keys:
            try:
                self.process(key)
            except Exception:  # one odd object must not stop the others
                log.exception("processing %r failed", key)
