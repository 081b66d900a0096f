"""What the real-MPI tests read: launcher logs, the hosts MPI ranks reported, and what the node agent's
process runtime made for each pod (so leftovers can be looked for on the node itself)."""

from __future__ import annotations

import copy
import os
import re
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from mpi_operator.kube.client import Client
from tests.real.ground import Ground
from tests.real.helpers import JSON, eventually, items, pods_path

RANK_LINE = re.compile(r"^Rank (\d+) of (\d+) running on (\S+)$", re.MULTILINE)
PI_LINE = "pi is approximately 3.14159"


async def launcher_pods(api: Client, ns: str, job: str) -> list[JSON]:
    return await items(api, pods_path(ns), f"batch.kubernetes.io/job-name={job}-launcher")


def kubectl_logs(ground: Ground, ns: str, job: str) -> str:
    done = ground.kubectl("logs", "-n", ns, f"job/{job}-launcher", check=False)
    return done.stdout


def rank_hosts(log: str) -> list[str]:
    """The host of every rank line, in rank order."""
    ranks = sorted((int(r), host) for r, _, host in RANK_LINE.findall(log))
    return [host for _, host in ranks]


async def wait_log(ground: Ground, ns: str, job: str, text: str, count: int = 1, within: float = 60) -> str:
    seen = [""]

    async def check() -> str | None:
        seen[0] = kubectl_logs(ground, ns, job)
        return seen[0] if seen[0].count(text) >= count else None
    try:
        result: str = await eventually(check, within, f"{count} x {text!r} in the launcher's log")
    except AssertionError as e:
        raise AssertionError(f"{e}; the launcher's log was:\n{seen[0]}") from None
    return result


def _node_endpoints(ground: Ground) -> list[str]:
    nodes = orjson.loads(ground.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    out = []
    for node in nodes:
        status = node.get("status") or {}
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        address = next((a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
        if port and address:
            out.append(f"https://{address}:{port}")
    return sorted(set(out))


def agent_pods(ground: Ground) -> list[JSON]:
    """Every pod the node agent runs, with the process runtime's sandbox description."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    pods: list[JSON] = []
    for base in _node_endpoints(ground):
        with urllib.request.urlopen(f"{base}/debug/pods", context=context, timeout=10) as resp:
            pods += orjson.loads(resp.read())["pods"]
    return pods


def leftovers(sandboxes: list[JSON]) -> list[str]:
    """What of these sandboxes is still on the node: processes in their PID namespaces, their network
    namespaces, mounts under their directories, the directories themselves."""
    namespaces = {ns for s in sandboxes for ns in s.get("pid_namespaces") or []}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") in namespaces:
                found.append(f"process {entry.name} ({(entry / 'comm').read_text().strip()})")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    mounts = Path("/proc/self/mountinfo").read_text()
    for s in sandboxes:
        if s.get("netns") and (Path("/run/netns") / s["netns"]).exists():
            found.append(f"network namespace {s['netns']}")
        if s["directory"] in mounts:
            found.append(f"a mount under {s['directory']}")
        if Path(s["directory"]).exists():
            found.append(f"directory {s['directory']}")
    return found


def variant(doc: JSON, **changes: Any) -> JSON:
    out = copy.deepcopy(doc)
    out["spec"].update(changes)
    return out


def launcher_command(doc: JSON, *argv: str) -> JSON:
    """A copy whose launcher runs `argv` (command), keeping everything else of the example."""
    out = copy.deepcopy(doc)
    container = out["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    container["command"] = list(argv[:1])
    container["args"] = list(argv[1:])
    return out
