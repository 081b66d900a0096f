"""`mpi-operator sandbox` runs the simulated cluster by default, tuned by its flags, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from mpi_operator.sandbox import Sandbox
from mpi_operator.sandbox.sandbox import StartError
from tests.sandbox_sim.conftest import job_body

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def wait_job_complete(batch: client.BatchV1Api, name: str) -> Any:
    async with asyncio.timeout(15):
        while True:
            job = await batch.read_namespaced_job_status(name, "default")
            if any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []):
                return job
            await asyncio.sleep(0.1)


async def test_cli_sandbox_runs_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mpi_operator", "sandbox", "--port", "0", "--kubeconfig-out", str(kubeconfig),
        "--start-delay", "0", "--run-seconds", "0.1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while b"kubeconfig written" not in await proc.stdout.readline():
                pass
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        async with client.ApiClient(cfg) as api:
            batch = client.BatchV1Api(api)
            body: Any = job_body("cli-job")
            await batch.create_namespaced_job("default", body)
            job = await wait_job_complete(batch, "cli-job")
            assert job.status.succeeded == 1
            node = await client.CoreV1Api(api).read_node("sandbox-node")
            assert node.metadata.name == "sandbox-node"
            events = await client.CoreV1Api(api).list_namespaced_event("default")
            assert {"Scheduled", "Started", "SuccessfulCreate", "Completed"} <= {e.reason for e in events.items}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0


async def test_a_port_in_use_is_one_line_and_a_failed_start_leaves_nothing_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mpi_operator", "sandbox", "--port", str(port), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 1 and out == b""
        assert err.decode() == (f"mpi-operator sandbox: cannot listen on 127.0.0.1:{port}: Address already in use; "
                                "pick another --port, or 0 for a free one\n")
        sb = Sandbox(port=port, simulate=True)
        with pytest.raises(StartError):
            await sb.start()
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


async def test_an_unwritable_kubeconfig_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mpi_operator", "sandbox", "--kubeconfig-out", str(target / "kubeconfig"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    line, = err.decode().splitlines()
    assert line.startswith(f"mpi-operator sandbox: cannot write the kubeconfig to {target}/kubeconfig: ")


async def test_a_port_out_of_range_is_refused_by_the_python_api_too() -> None:
    with pytest.raises(ValueError, match="port 99999 is not a port number"):
        Sandbox(port=99999)
