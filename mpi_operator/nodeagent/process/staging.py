"""A directory built once and published in one step: what an image layer and a PyPI prefix both need."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_once(target: Path, build: Callable[[Path], None], prefix: str) -> Path:
    """`target`, made by `build(staging)` in a sibling directory that is then renamed into place, so an
    interrupted build leaves nothing that looks complete. When another builder finished first, its result is
    kept and ours dropped."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
