"""Structured logging: `key=value` text (default) or one JSON object per line, with context fields.

Fields come from `extra={...}` on a call and from `log_context(key="ns/name")`, which a reconcile opens so
every line it logs carries the object's key without passing it around. Secrets are never logged here: callers
pass names and reasons, not object bodies.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` or the context.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every record logged inside the block (and tasks it creates)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(_context.get() or {})
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
    return fields


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), record.levelname, record.name, record.getMessage()]
        for k, v in record_fields(record).items():
            text = str(v)
            parts.append(f"{k}={text!r}" if (" " in text or not text) else f"{k}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"ts": _time(record), "level": record.levelname, "logger": record.name,
                               "msg": record.getMessage()}
        doc.update(record_fields(record))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(format: str = "text", level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Replace the root handlers with one stream handler in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # aiohttp's access log would print every probe and scrape.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
