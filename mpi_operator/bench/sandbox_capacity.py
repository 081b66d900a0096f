"""The sandbox's own capacity, so a reader can see it is not what limits the operator: ConfigMap creates per
second from N concurrent HTTP clients (each its own aiohttp session and connection), then the same writes with
10 watch streams open, checking that every watcher receives every event (none lost) and how long the last one
takes to arrive.

The load runs in a child process (`python -m mpi_operator.bench.sandbox_capacity --url ...`) so the sandbox
keeps a core of its own, as it does when the operator is measured; the child prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from mpi_operator.bench.processes import ChildProcess
from mpi_operator.sandbox import Sandbox

WRITES_NAMESPACE = "capacity"
FANOUT_NAMESPACE = "fanout"
USER_AGENT = "bench-capacity/1"


def _configmap(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"a": "b"}},
                         "data": {"hostfile": f"{name}.svc slots=1\n" * 4}})


async def _write(url: str, namespace: str, clients: int, writes: int, prefix: str) -> float:
    """Create `writes` ConfigMaps from `clients` sessions; returns the wall seconds."""
    names = iter(range(writes))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}

    async def client() -> None:
        async with aiohttp.ClientSession(headers=headers) as session:
            for i in names:
                async with session.post(f"{url}/api/v1/namespaces/{namespace}/configmaps",
                                        data=_configmap(f"{prefix}-{i}")) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create answered {resp.status}: {await resp.text()}")
                    await resp.read()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.monotonic() - started


async def _watch(session: aiohttp.ClientSession, url: str, rv: str, expected: int, seen: set[str],
                 opened: asyncio.Event, done: asyncio.Event) -> None:
    async with session.get(f"{url}/api/v1/namespaces/{FANOUT_NAMESPACE}/configmaps",
                           params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "600"}) as resp:
        opened.set()
        async for line in resp.content:
            if not line.strip():
                continue
            event = orjson.loads(line)
            if event.get("type") == "ADDED":
                seen.add(event["object"]["metadata"]["name"])
                if len(seen) >= expected:
                    done.set()
                    return


async def measure(url: str, clients: int, writes: int, watchers: int) -> dict[str, Any]:
    plain = await _write(url, WRITES_NAMESPACE, clients, writes, "cm")
    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        async with session.get(f"{url}/api/v1/namespaces/{FANOUT_NAMESPACE}/configmaps") as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        seen: list[set[str]] = [set() for _ in range(watchers)]
        opened = [asyncio.Event() for _ in range(watchers)]
        done = [asyncio.Event() for _ in range(watchers)]
        tasks = [asyncio.create_task(_watch(session, url, rv, writes, seen[i], opened[i], done[i]))
                 for i in range(watchers)]
        await asyncio.gather(*(o.wait() for o in opened))
        started = time.monotonic()
        fanout_writes = await _write(url, FANOUT_NAMESPACE, clients, writes, "fan")
        with contextlib.suppress(TimeoutError):  # a lost event shows as events_lost below
            await asyncio.wait_for(asyncio.gather(*(d.wait() for d in done)), 120)
        delivered = time.monotonic() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    received = sum(len(s) for s in seen)
    return {
        "clients": clients, "writes": writes, "writes_per_second": writes / plain,
        "fanout": {"watchers": watchers, "writes_per_second": writes / fanout_writes,
                   "seconds_to_last_delivery": delivered, "events_expected": writes * watchers,
                   "events_received": received, "events_lost": writes * watchers - received},
    }


async def run_capacity(tmp: Path, clients: int, writes: int, watchers: int) -> dict[str, Any]:
    """Start a sandbox here and the load in a child process; returns the child's figures."""
    async with Sandbox(port=0, watch_queue_size=max(10_000, 2 * writes)) as sb:
        for ns in (WRITES_NAMESPACE, FANOUT_NAMESPACE):
            sb.store.create("namespaces", None, {"metadata": {"name": ns}})
        child = ChildProcess(["-m", "mpi_operator.bench.sandbox_capacity", "--url", sb.url, "--clients",
                              str(clients), "--writes", str(writes), "--watchers", str(watchers)],
                             tmp / "sandbox-capacity.log")
        await child.start(stdout_pipe=True)
        assert child.proc is not None
        out, _ = await child.proc.communicate()
        if child.proc.returncode != 0:
            raise RuntimeError(f"capacity load failed: {(tmp / 'sandbox-capacity.log').read_text()[-2000:]}")
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        result["sandbox_requests_served"] = sb.requests.total
        return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mpi_operator.bench.sandbox_capacity", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--writes", type=int, default=2000)
    p.add_argument("--watchers", type=int, default=10)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.url, args.clients, args.writes, args.watchers))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
