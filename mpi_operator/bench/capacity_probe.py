"""The sandbox's capacity probe: HTTP writes per second and watch fan-out with no lost event, every part its own
process: the API server (`mpi-operator sandbox`), P writer processes and one process of W watch streams, so the
figure is the server's and not the Python client's (docs/sandbox.md, "Capacity").

`measure()` returns the numbers, `python -m mpi_operator.bench.capacity_probe` prints them. `make bench` measures
the sandbox it runs the operator on with `sandbox_capacity.py` instead (the server in the benchmark's process).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from typing import Any

import aiohttp
import orjson

NAMESPACE = "default"
PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


async def _writer(url: str, count: int, prefix: str, concurrency: int) -> None:
    payload = {"k": "v" * 200}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        # Start together: report ready, then wait for the parent's "go" line (process start-up is not measured).
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def worker(offset: int) -> None:
            for i in range(offset, count, concurrency):
                body = orjson.dumps({"metadata": {"name": f"{prefix}-{i}", "labels": {"bench": "1"}},
                                     "data": payload})
                async with session.post(url + PATH, data=body,
                                        headers={"Content-Type": "application/json"}) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")
                    await resp.read()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def _watchers(url: str, rv: str, expected: int, watchers: int) -> None:
    """Open `watchers` streams from `rv`; exit 0 when each saw `expected` ADDED events in increasing RV order."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        async def watch(opened: asyncio.Event) -> int:
            seen, last = 0, 0
            async with session.get(f"{url}{PATH}?watch=1&resourceVersion={rv}&labelSelector=bench%3D1") as resp:
                opened.set()
                while seen < expected:
                    line = await resp.content.readline()
                    if not line:
                        raise RuntimeError(f"watch ended after {seen} of {expected} events")
                    event = orjson.loads(line)
                    current = int(event["object"]["metadata"]["resourceVersion"])
                    if event["type"] != "ADDED" or current <= last:
                        raise RuntimeError(f"unexpected event order at {seen}: {event['type']} {current}")
                    last, seen = current, seen + 1
            return seen
        opened = [asyncio.Event() for _ in range(watchers)]
        tasks = [asyncio.create_task(watch(o)) for o in opened]
        await asyncio.gather(*(o.wait() for o in opened))
        print("ready", flush=True)
        counts = await asyncio.gather(*tasks)
        if counts != [expected] * watchers:
            raise RuntimeError(f"lost events: {counts}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(*args: str, stdout: int = asyncio.subprocess.DEVNULL,
               stdin: int | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", *args, stdout=stdout, stdin=stdin)


async def _ready(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    if (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() != b"ready":
        raise RuntimeError("a capacity client process failed to start")


async def measure(writes: int = 6000, writer_processes: int = 2, watchers: int = 10,
                  concurrency: int = 32) -> dict[str, Any]:
    """Start a sandbox process, `watchers` watch streams (one process) and `writer_processes` writers; return
    {"writes_per_second", "writes", "watchers", "events_delivered"}. Raises if any watcher lost an event."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = await _run("mpi_operator", "sandbox", "--port", str(port), "--no-simulate")
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with session.get(f"{url}{PATH}") as resp:
                        rv = (await resp.json())["metadata"]["resourceVersion"]
                        break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        per_writer = writes // writer_processes
        total = per_writer * writer_processes
        watcher_proc = None
        if watchers:
            watcher_proc = await _run("mpi_operator.bench.capacity_probe", "watch", url, rv, str(total), str(watchers),
                                      stdout=asyncio.subprocess.PIPE)
            await _ready(watcher_proc)
        writers = [await _run("mpi_operator.bench.capacity_probe", "write", url, str(per_writer), f"w{i}",
                              str(concurrency), stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE)
                   for i in range(writer_processes)]
        for w in writers:
            await _ready(w)
        started = time.monotonic()
        for w in writers:
            assert w.stdin is not None
            w.stdin.write(b"go\n")
            await w.stdin.drain()
        codes = [await w.wait() for w in writers]
        elapsed = time.monotonic() - started
        if any(codes):
            raise RuntimeError(f"writer failed: exit codes {codes}")
        if watcher_proc is not None and await asyncio.wait_for(watcher_proc.wait(), 60) != 0:
            raise RuntimeError("a watcher lost or reordered events")
        return {"writes": total, "writes_per_second": round(total / elapsed), "watchers": watchers,
                "events_delivered": total * watchers}
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        asyncio.run(_writer(argv[1], int(argv[2]), argv[3], int(argv[4])))
        return 0
    if argv[:1] == ["watch"]:
        asyncio.run(_watchers(argv[1], argv[2], int(argv[3]), int(argv[4])))
        return 0
    p = argparse.ArgumentParser(prog="python -m mpi_operator.bench.capacity_probe")
    p.add_argument("--writes", type=int, default=6000)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--watchers", type=int, default=10)
    ns = p.parse_args(argv)
    result = asyncio.run(measure(ns.writes, ns.writers, ns.watchers))
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
