"""The API client: config loading, one HTTP session, a QPS/burst limiter, typed errors and safe retries.

Connection facts (host, TLS, credentials) come from kubernetes_asyncio's config loaders and its ApiClient's
aiohttp session; requests are raw JSON over that session, objects stay plain dicts. Retries: transport errors,
429 and 5xx are retried with jittered backoff only where a repeat cannot do harm (see `_may_retry`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from mpi_operator.kube.errors import (
    ApiError,
    ConnectionSetupError,
    KubeError,
    ServerError,
    TooManyRequests,
    TransportError,
    api_error,
    parse_retry_after,
)
from mpi_operator.kube.kubeconfig import ConfigError, check_kubeconfig
from mpi_operator.kube.ratelimit import TokenBucket
from mpi_operator.kube.resource import Resource, ResourceType

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "mpi-operator/v2 (python)"


async def load_configuration(kubeconfig: str = "", master: str = "", context: str | None = None,
                             kubeconfig_source: str = "--kubeconfig") -> Any:
    """A kubernetes_asyncio Configuration, resolved like client-go's BuildConfigFromFlags(master, kubeconfig).

    Order: explicit kubeconfig path; else in-cluster service account (when neither flag is set and the pod
    environment is present); else $KUBECONFIG / ~/.kube/config; else `master` alone (no credentials).
    A non-empty `master` always overrides the server URL. Problems raise ConfigError naming the file and field.
    """
    cfg, _ = await resolve_configuration(kubeconfig, master, context, kubeconfig_source)
    return cfg


async def resolve_configuration(kubeconfig: str = "", master: str = "", context: str | None = None,
                                kubeconfig_source: str = "--kubeconfig") -> tuple[Any, str]:
    """`load_configuration`, plus where the server address came from, for messages ("--master",
    "kubeconfig /p from $KUBECONFIG, context c, cluster k")."""
    cfg = k8s_client.Configuration()
    env_path = os.environ.get("KUBECONFIG", "")
    default_path = Path.home() / ".kube" / "config"
    path, source = (kubeconfig, kubeconfig_source) if kubeconfig else \
        (env_path, "$KUBECONFIG") if env_path else (str(default_path), "the default path ~/.kube/config")
    if not kubeconfig and not master and os.environ.get("KUBERNETES_SERVICE_HOST"):
        origin = "the in-cluster service account ($KUBERNETES_SERVICE_HOST)"
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except Exception as exc:  # the loader's ConfigException, or OSError reading the token
            raise ConfigError(f"{origin}: {exc}; mount the service account token, or pass --kubeconfig") from None
    elif kubeconfig or env_path or default_path.exists():
        target = check_kubeconfig(path, source, context, master)
        origin = f"kubeconfig {target.path} from {source}, context {target.context}, cluster {target.cluster}"
        try:
            await k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                              persist_config=False)
        except Exception as exc:  # what check_kubeconfig does not foresee (exec plugins, auth providers...)
            raise ConfigError(f"kubeconfig {path} (from {source}): {type(exc).__name__}: {exc}") from None
    elif master:
        origin = ""
    else:
        raise ConfigError("no cluster configuration: no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, no "
                          "in-cluster service account and no --master; pass one of them")
    if master:
        cfg.host = master.rstrip("/")
        origin = f"--master{'; credentials from ' + origin if origin else ''}"
    return cfg, origin


def _retry_delay(attempt: int, error: BaseException, cap: float = 10.0) -> float:
    if isinstance(error, ApiError) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), 60.0)
    return min(cap, 0.1 * float(2**attempt)) * (0.5 + random.random())


class Client:
    """One API server connection. Use `async with await Client.connect(...)` or `Client(cfg)` + `close()`."""

    def __init__(self, configuration: Any, qps: float = 5.0, burst: int = 10, max_retries: int = 5,
                 user_agent: str = USER_AGENT, origin: str = "") -> None:
        self.configuration = configuration
        self.host: str = str(configuration.host).rstrip("/")
        # Where the address came from (flag, kubeconfig file and context), for messages about this server.
        self.origin = origin
        self.limiter = TokenBucket(qps, burst)
        self.max_retries = max_retries
        self.user_agent = user_agent
        self._api_client: Any = None
        # Called once per HTTP attempt: (method, status code or None on transport failure, seconds).
        self.observer: Callable[[str, int | None, float], None] | None = None

    @classmethod
    async def connect(cls, kubeconfig: str = "", master: str = "", qps: float = 5.0, burst: int = 10,
                      context: str | None = None, max_retries: int = 5,
                      kubeconfig_source: str = "--kubeconfig") -> Client:
        """A client for the configuration found (see `load_configuration`); ConfigError says what is wrong."""
        cfg, origin = await resolve_configuration(kubeconfig, master, context, kubeconfig_source)
        client = cls(cfg, qps=qps, burst=burst, max_retries=max_retries, origin=origin)
        try:
            client._session()  # builds the TLS context now: a bad certificate is a configuration error
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"{client.describe()}: the TLS settings cannot be used: {exc}") from None
        return client

    def describe(self) -> str:
        """`the API server at URL (from ...)`, the way messages name this server."""
        return f"the API server at {self.host}" + (f" ({self.origin})" if self.origin else "")

    def derive(self, qps: float | None = None, burst: int | None = None, user_agent: str | None = None) -> Client:
        """A second client on the same configuration with its own limiter and connection pool, e.g. for
        leader election, so lease renewals never queue behind reconcile traffic (as upstream does)."""
        derived = Client(self.configuration, qps=qps or self.limiter.rate, burst=burst or self.limiter.burst,
                         max_retries=self.max_retries, user_agent=user_agent or self.user_agent, origin=self.origin)
        derived.observer = self.observer
        return derived

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._api_client is not None:
            await self._api_client.close()
            self._api_client = None

    def resource(self, rtype: ResourceType) -> Resource:
        return Resource(self, rtype)

    def _session(self) -> tuple[aiohttp.ClientSession, str | None]:
        if self._api_client is None:
            # Built lazily so it binds to the running loop; it owns the TLS context from the configuration.
            self._api_client = k8s_client.ApiClient(self.configuration)
        rest = self._api_client.rest_client
        return rest.pool_manager, getattr(rest, "server_hostname", None)

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        for auth in (await self.configuration.auth_settings()).values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return headers

    async def _send(self, method: str, path: str, params: Mapping[str, Any] | None, body: bytes | None,
                    content_type: str | None, timeouts: aiohttp.ClientTimeout) -> aiohttp.ClientResponse:
        """One attempt: wait for the QPS limiter, send, raise typed errors for non-2xx answers."""
        await self.limiter.wait()
        session, server_hostname = self._session()
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        kwargs: dict[str, Any] = {"params": query, "data": body, "headers": await self._headers(content_type),
                                  "timeout": timeouts}
        if server_hostname:
            kwargs["server_hostname"] = server_hostname
        started = time.monotonic()
        try:
            resp = await session.request(method, self.host + path, **kwargs)
        except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
            self._observe(method, None, started)
            raise ConnectionSetupError(f"{method} {path}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._observe(method, None, started)
            raise TransportError(f"{method} {path}: {str(exc) or repr(exc)}") from exc
        self._observe(method, resp.status, started)
        if resp.status >= 300:
            try:
                raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransportError(f"{method} {path}: reading error body: {exc!r}") from exc
            finally:
                resp.release()
            try:
                decoded: Any = orjson.loads(raw) if raw else ""
            except orjson.JSONDecodeError:
                decoded = raw.decode("utf-8", "replace")
            raise api_error(resp.status, decoded, parse_retry_after(resp.headers.get("Retry-After")))
        return resp

    def _observe(self, method: str, code: int | None, started: float) -> None:
        if self.observer is not None:
            try:
                self.observer(method, code, time.monotonic() - started)
            except Exception:
                log.exception("request observer failed")

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      body: Any = None, content_type: str | None = None, retry_5xx: bool = True,
                      request_timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Send one API request and decode its JSON answer, retrying per the safety rules.

        `retry_5xx` says a repeat of this exact request is harmless (reads, named creates, updates with a
        resourceVersion, merge patches, deletes); transport errors are then retried too. 429 is always
        retried: the server rejected the request before doing anything.
        """
        payload = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        if payload is not None and content_type is None:
            content_type = "application/json"
        attempt = 0
        while True:
            try:
                resp = await self._send(method, path, params, payload, content_type,
                                        aiohttp.ClientTimeout(total=request_timeout))
                try:
                    raw = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise TransportError(f"{method} {path}: reading body: {exc!r}") from exc
                finally:
                    resp.release()
                return orjson.loads(raw) if raw else None
            except (TooManyRequests, ServerError, TransportError) as exc:
                retryable = isinstance(exc, TooManyRequests) or retry_5xx
                if not retryable or not _worth_repeating(exc) or attempt >= self.max_retries:
                    raise
                delay = _retry_delay(attempt, exc)
                # No answer at all is worth a warning (wrong address, server down); 429/5xx are routine.
                log.log(logging.WARNING if isinstance(exc, TransportError) else logging.INFO,
                        "retrying API request", extra={
                            "method": method, "server": self.host, "path": path,
                            "attempt": f"{attempt + 1}/{self.max_retries}", "delay": round(delay, 3),
                            "error": str(exc)})
                attempt += 1
                await asyncio.sleep(delay)

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, Any], read_timeout: float | None
                     ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open streaming GET (watch); connection set-up is retried like a read, the body is not."""
        attempt = 0
        while True:
            try:
                resp = await self._send("GET", path, params, None, None,
                                        aiohttp.ClientTimeout(total=None, connect=DEFAULT_TIMEOUT,
                                                              sock_read=read_timeout))
                break
            except (TooManyRequests, ServerError, TransportError) as exc:
                if not _worth_repeating(exc) or attempt >= self.max_retries:
                    raise
                attempt += 1
                await asyncio.sleep(_retry_delay(attempt, exc))
        try:
            yield resp
        finally:
            resp.close()


def _worth_repeating(exc: KubeError) -> bool:
    return not isinstance(exc, ConnectionSetupError)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
