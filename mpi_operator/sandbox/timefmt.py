"""Kubernetes timestamp formats: RFC 3339 UTC with `Z`, whole seconds (Time) or microseconds (MicroTime)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_rfc3339(offset_seconds: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_seconds))


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for `2026-01-02T03:04:05Z` (fractions and offsets accepted)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
