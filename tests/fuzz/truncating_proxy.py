"""An HTTP proxy in front of the sandbox that cuts watch responses after a chosen number of body bytes.

Everything else passes through unchanged. A cut lands anywhere, usually mid-line; it ends the response either
cleanly (a short but well-framed body) or by dropping the connection, as a load balancer or a crashing API
server would. `cuts` is consumed in order, one per watch, counted from the data flowing when it is taken; when
empty, watches pass through whole.
"""

from __future__ import annotations

from collections import deque

import aiohttp
from aiohttp import web

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class TruncatingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.cuts: deque[tuple[int, bool]] = deque()   # (bytes to pass, drop the connection instead of ending)
        self.watches = 0
        self.cut_watches = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        watching = request.query.get("watch") in ("1", "true")
        async with self._session.request(request.method, self.upstream + request.path_qs, headers=headers,
                                         data=body or None) as upstream:
            out = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS})
            if not watching:
                out.content_length = None
            await out.prepare(request)
            self.watches += watching
            passed = 0
            cut: tuple[int, bool] | None = None
            async for chunk in upstream.content.iter_any():
                if watching and cut is None and self.cuts:
                    # Taken when data flows, so a long-open watch is cut by a plan made after it started.
                    size, drop = self.cuts.popleft()
                    cut = (passed + size, drop)
                if cut is not None and passed + len(chunk) >= cut[0]:
                    await out.write(chunk[:cut[0] - passed])
                    self.cut_watches += 1
                    if cut[1] and request.transport is not None:
                        request.transport.close()
                        return out
                    break
                passed += len(chunk)
                await out.write(chunk)
            await out.write_eof()
            return out
