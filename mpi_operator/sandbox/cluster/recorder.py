"""Core v1 Events written by the simulated cluster components, shaped like client-go's event recorder.

One event per call (no aggregation: the simulators rarely repeat themselves); a failure to record is logged and
never disturbs the caller, as with a real recorder.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mpi_operator.sandbox.apiserver.storage import Storage
from mpi_operator.sandbox.errors import ApiError
from mpi_operator.sandbox.timefmt import now_rfc3339

log = logging.getLogger(__name__)


class EventRecorder:
    def __init__(self, store: Storage, component: str, enabled: bool = True) -> None:
        self.store = store
        self.component = component
        self.enabled = enabled

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if not self.enabled:
            return
        meta = obj["metadata"]
        now = now_rfc3339()
        body = {
            "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta.get("namespace", "default")},
            "involvedObject": {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""),
                               "name": meta["name"], "uid": meta["uid"], "apiVersion": obj.get("apiVersion", ""),
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message[:1024], "type": type_,
            "source": {"component": self.component}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": self.component, "reportingInstance": "",
        }
        try:
            self.store.create("events", meta.get("namespace", "default"), body)
        except ApiError as e:
            log.debug("event %s on %s not recorded: %s", reason, meta["name"], e.message)
