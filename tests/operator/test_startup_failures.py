"""`mpi-operator run` as a real process that cannot start: each failure is one clear line naming the cause and
where it came from, a non-zero exit, and no traceback; what does not stop it (a missing lease namespace) shows
in the first log lines and on /readyz."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from mpi_operator.sandbox import Sandbox
from tests.operator.test_process import Operator, eventually, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Sandbox, Path]]:
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig) as sb:
        yield sb, kubeconfig


async def failed(op: Operator, within: float = 30) -> tuple[int, str]:
    await op.start()
    code = await op.exit_code(within)
    text = op.log_text()
    assert "Traceback" not in text, text
    return code, text


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " ERROR " in line]


async def test_an_unreachable_server_is_retried_a_bounded_time_naming_it_then_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    code, text = await failed(Operator(None, "--master", url))
    assert code == 1
    assert time.monotonic() - started < 20, "the retries are bounded"
    retries = [line for line in text.splitlines() if "retrying API request" in line]
    assert len(retries) >= 3 and all(f"server={url}" in line for line in retries)
    [error] = error_lines(text)
    assert f"cannot reach the API server at {url} (--master)" in error
    assert "check the address and that the server is running" in error


async def test_a_broken_kubeconfig_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    empty = tmp_path / "empty-config"
    empty.write_text("")
    code, text = await failed(Operator(None, env={"KUBECONFIG": str(empty)}))
    assert code == 1
    [error] = error_lines(text)
    assert f"kubeconfig {empty} (from $KUBECONFIG): the file is empty" in error


async def test_https_to_a_plain_http_server_fails_at_once_with_the_fix(sandbox: tuple[Sandbox, Path],
                                                                     tmp_path: Path) -> None:
    sb, _ = sandbox
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{sb.port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    started = time.monotonic()
    code, text = await failed(Operator(config))
    assert code == 1
    assert "retrying" not in text, "a TLS handshake failure is not worth repeating"
    [error] = error_lines(text)
    assert f"cannot connect to the API server at https://127.0.0.1:{sb.port} (kubeconfig {config}" in error
    assert "does not speak TLS on this port: use an http:// URL" in error
    assert time.monotonic() - started < 15


async def test_a_server_that_is_not_kubernetes_is_named_as_such() -> None:
    async def nothing_here(_: web.Request) -> web.Response:
        return web.Response(status=404, text="nothing here")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", nothing_here)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        code, text = await failed(Operator(None, "--master", url))
    finally:
        await runner.cleanup()
    assert code == 1
    [error] = error_lines(text)
    assert f"the API server at {url} (--master) does not look like a Kubernetes API server" in error


async def test_a_health_port_in_use_names_the_flag(sandbox: tuple[Sandbox, Path]) -> None:
    _, kubeconfig = sandbox
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        op = Operator(kubeconfig)
        op.args[op.args.index("--health-port") + 1] = str(port)
        code, text = await failed(op)
    assert code == 1
    [error] = error_lines(text)
    assert f"cannot listen on port {port} (--health-port={port}): Address already in use" in error


@pytest.mark.parametrize("scheduler, crd", [("volcano", "podgroups.scheduling.volcano.sh"),
                                            ("scheduler-plugins-scheduler", "podgroups.scheduling.x-k8s.io")])
async def test_gang_scheduling_without_its_podgroup_crd_exits_saying_what_to_install(
        sandbox: tuple[Sandbox, Path], scheduler: str, crd: str) -> None:
    _, kubeconfig = sandbox  # no PodGroup CRD installed
    code, text = await failed(Operator(kubeconfig, "--gang-scheduling", scheduler))
    assert code == 1
    [error] = error_lines(text)
    assert f"--gang-scheduling={scheduler} needs the PodGroup CRD {crd}, which is not installed" in error


async def test_gang_scheduling_with_its_podgroup_crd_starts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    async with Sandbox(port=0, kubeconfig_path=kubeconfig, gang="volcano"):
        op = Operator(kubeconfig, "--gang-scheduling", "volcano")
        await op.start()
        try:
            await eventually(op.ready, 20, "/readyz 200")
        finally:
            await op.stop()


async def test_a_missing_lease_namespace_is_in_the_first_log_lines_and_on_readyz(
        sandbox: tuple[Sandbox, Path]) -> None:
    _, kubeconfig = sandbox
    op = Operator(kubeconfig, "--lock-namespace", "no-such-namespace")
    await op.start()
    try:
        body = await eventually(lambda: op.not_ready_because("leader-election"), 20, "/readyz naming the lease")
        assert 'the lease namespace "no-such-namespace" does not exist' in body and "--lock-namespace" in body
        lines = op.log_text().splitlines()
        assert any("leader election cannot proceed" in line and "no-such-namespace" in line for line in lines[:6])
        code, seconds = await op.seconds_to_exit_after(signal.SIGINT)
        assert code == 0 and seconds < 1.0, seconds
    finally:
        await op.stop()
