"""The kubelet endpoint of the node agent: `GET /containerLogs/{namespace}/{pod}/{container}` over HTTPS.

kube-apiserver answers `kubectl logs` by calling the kubelet of the pod's node at its InternalIP and
`status.daemonEndpoints.kubeletEndpoint.Port`; the agent serves that path for all of its nodes (they share
its address). Query `tailLines`, `limitBytes` and `previous` are honoured; `follow` returns what exists.
The certificate is self-signed: kube-apiserver does not verify kubelets without
`--kubelet-certificate-authority`.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from mpi_operator.pki import self_signed

if TYPE_CHECKING:
    from mpi_operator.nodeagent.agent import NodeAgent


def _tail(data: bytes, query: dict[str, str]) -> bytes:
    lines = query.get("tailLines")
    if lines is not None and lines.isdigit():
        count = int(lines)
        parts = data.splitlines(keepends=True)
        data = b"".join(parts[-count:]) if count else b""
    limit = query.get("limitBytes")
    if limit is not None and limit.isdigit():
        data = data[:int(limit)]
    return data


def application(agent: NodeAgent) -> web.Application:
    async def container_logs(request: web.Request) -> web.Response:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        previous = request.query.get("previous", "false").lower() == "true"
        data = agent.logs.get(ns, pod, container, previous=previous)
        if data is None:
            what = "previous terminated container" if previous else "container"
            raise web.HTTPNotFound(text=f'{what} "{container}" in pod "{pod}" is not available\n')
        return web.Response(body=_tail(data, dict(request.query)), content_type="text/plain")

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def debug_pods(_request: web.Request) -> web.Response:
        """The pods this agent runs, with what the runtime made for each (for tests and debugging)."""
        describe = getattr(agent.runtime, "describe", None)
        pods = []
        for worker in list(agent.workers.values()):
            entry: dict[str, object] = {"namespace": worker.namespace, "name": worker.key.split("/", 1)[1],
                                        "uid": worker.uid, "containers": sorted(worker.runs)}
            if worker.sandbox is not None and describe is not None:
                entry["sandbox"] = describe(worker.sandbox)
            pods.append(entry)
        return web.json_response({"runtime": agent.runtime.name, "pods": pods})

    app = web.Application()
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/debug/pods", debug_pods)
    return app


async def serve_logs(agent: NodeAgent, host: str, port: int) -> tuple[web.AppRunner, int]:
    pair = self_signed("nodeagent", (host, "localhost"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = pair.write(Path(tmp), "kubelet")
        context.load_cert_chain(cert, key)
    runner = web.AppRunner(application(agent), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else port
