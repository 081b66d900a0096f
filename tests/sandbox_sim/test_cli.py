"""`mpi-operator sandbox` runs the simulated cluster by default, tuned by its flags, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

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
