"""Per-client request counts on a real kube-apiserver, read from its audit log (Metadata level, JSON lines).

The policy logs only the benchmark drivers' ServiceAccount, and exactly one entry per request: watches at
RequestReceived (a watch open when counting stops still counts), everything else at ResponseComplete (with its
status code, so conflicts and retries show). A driver is named by that user and its User-Agent's first word.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def policy(username: str) -> dict[str, Any]:
    """The audit policy: Metadata for `username`'s requests, one stage each; nothing for anyone else."""
    return {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "Metadata", "users": [username], "verbs": ["watch"],
         "omitStages": ["ResponseStarted", "ResponseComplete", "Panic"]},
        {"level": "Metadata", "users": [username], "omitStages": ["RequestReceived", "ResponseStarted"]},
        {"level": "None"},
    ]}


def apiserver_args(directory: Path, username: str) -> list[str]:
    """kube-apiserver flags that write the audit log of `username` to `directory/audit.log`."""
    policy_file = directory / "audit-policy.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    policy_file.write_text(yaml.safe_dump(policy(username), sort_keys=False))
    # Blocking mode: an entry is in the file before its response is sent, so a quiet driver is fully counted.
    return [f"--audit-policy-file={policy_file}", f"--audit-log-path={directory / 'audit.log'}",
            "--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0"]


def resource_of(entry: dict[str, Any]) -> str:
    """`pods`, `jobs.batch`, `mpijobs.kubeflow.org/status`: the sandbox request log's names."""
    ref = entry.get("objectRef")
    if not ref:
        return str(entry.get("requestURI", "")).split("?", 1)[0]
    group = ref.get("apiGroup") or ""
    name = str(ref.get("resource", "")) + (f".{group}" if group else "")
    return name + (f"/{ref['subresource']}" if ref.get("subresource") else "")


@dataclass
class Requests:
    """One driver's requests in one window."""

    by_verb: dict[str, int] = field(default_factory=dict)
    by_resource: dict[str, int] = field(default_factory=dict)
    by_code: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)  # `verb resource code` of every non-2xx answer

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())

    @property
    def writes(self) -> int:
        return sum(n for verb, n in self.by_verb.items() if verb in WRITE_VERBS)


@dataclass
class AuditLog:
    path: Path
    username: str

    def mark(self) -> int:
        """Where the log ends now: count from here with `requests_since`."""
        return self.path.stat().st_size if self.path.exists() else 0

    def requests_since(self, offset: int, user_agent: str) -> Requests:
        """The requests of `username` whose User-Agent's first word is `user_agent`, logged after `offset`."""
        with self.path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        by_verb: Counter[str] = Counter()
        by_resource: Counter[str] = Counter()
        by_code: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        # Only whole lines: a request still being answered has not been written completely.
        for line in data[:data.rfind(b"\n") + 1].splitlines():
            entry = json.loads(line)
            if (entry.get("user") or {}).get("username") != self.username:
                continue
            if str(entry.get("userAgent", "")).split(" ", 1)[0].split("/", 1)[0] != user_agent:
                continue
            verb, resource = str(entry.get("verb")), resource_of(entry)
            by_verb[verb] += 1
            by_resource[f"{verb} {resource}"] += 1
            code = (entry.get("responseStatus") or {}).get("code")
            if code is not None:
                by_code[str(code)] += 1
                if not 200 <= int(code) < 300:
                    failed[f"{verb} {resource} {code}"] += 1
        return Requests(dict(sorted(by_verb.items())), dict(sorted(by_resource.items())),
                        dict(sorted(by_code.items())), dict(sorted(failed.items())))
