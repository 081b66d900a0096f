"""Structured logs: text key=value and JSON lines, with context fields such as the object key."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from mpi_operator.kube.logs import configure_logging, log_context


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_extra_and_context_fields() -> None:
    out = io.StringIO()
    configure_logging("json", "DEBUG", stream=out)
    with log_context(key="default/pi"):
        logging.getLogger("test").info("synced", extra={"duration": 0.5})
    logging.getLogger("test").info("outside")
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert first["msg"] == "synced" and first["key"] == "default/pi" and first["duration"] == 0.5
    assert first["level"] == "INFO" and first["logger"] == "test" and first["ts"].endswith("Z")
    assert "key" not in second


def test_text_lines_are_key_value() -> None:
    out = io.StringIO()
    configure_logging("text", "INFO", stream=out)
    with log_context(key="ns/job"):
        logging.getLogger("test").warning("sync failed", extra={"error": "boom here"})
    line = out.getvalue().strip()
    assert "WARNING test sync failed" in line
    assert "key=ns/job" in line and "error='boom here'" in line
