"""Start-up checks, before the operator campaigns for the lease: the server answers and is a Kubernetes API
server, the MPIJob CRD is installed, and so is the PodGroup CRD that `--gang-scheduling` needs.

Invariant: each failure is one `StartupError` whose message names the server (and where its address came from),
what is wrong and what to do; the operator logs it and exits 1. A server that does not answer is retried by the
client (bounded, each retry logged with the address) before that.
"""

from __future__ import annotations

import logging
from typing import Any

from mpi_operator.controller.cache import MPIJOBS, podgroup_type
from mpi_operator.controller.options import ControllerOptions
from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import ApiError, ConnectionSetupError, Forbidden, NotFound, TransportError, Unauthorized

log = logging.getLogger("mpi_operator")

# What an ssl or aiohttp error text means for the user, and the fix.
_TLS_HINTS = (
    (("WRONG_VERSION_NUMBER", "record layer failure", "packet length too long", "http request"),
     "the server does not speak TLS on this port: use an http:// URL, or the TLS port"),
    (("CERTIFICATE_VERIFY_FAILED",),
     "the server's certificate is not trusted: set certificate-authority (or -data) of the kubeconfig's cluster "
     "to the CA that signed it"),
    (("Hostname mismatch", "doesn't match", "IP address mismatch"),
     "the certificate names another host: use a name it was issued for, or set tls-server-name in the kubeconfig"),
)


class StartupError(Exception):
    """A start-up check failed; the message is for the user as it is."""


def reason(exc: BaseException) -> str:
    """The most specific readable text of a transport failure (the aiohttp cause, not our wrapper)."""
    cause = exc.__cause__
    text = str(cause) if cause is not None and str(cause) else str(exc)
    if isinstance(cause, TimeoutError) or (cause is None and not text):
        return "no answer before the request timed out"
    return text


def explain_unreachable(client: Client, exc: TransportError) -> str:
    """The message for a server that gave no HTTP answer, with the fix the error suggests."""
    text = reason(exc)
    if isinstance(exc, ConnectionSetupError):
        hint = next((h for needles, h in _TLS_HINTS if any(n in text for n in needles)),
                    "check the server URL and the TLS settings of the kubeconfig")
        return f"cannot connect to {client.describe()}: {text}; {hint}"
    return (f"cannot reach {client.describe()} ({client.max_retries + 1} attempts): {text}; check the address "
            "and that the server is running and reachable from here")


async def check_server(client: Client) -> str:
    """The server's version (`gitVersion`); StartupError when it does not answer or is not an API server."""
    try:
        version: Any = await client.request("GET", "/version")
    except TransportError as exc:
        raise StartupError(explain_unreachable(client, exc)) from None
    except Unauthorized as exc:
        raise StartupError(f"{client.describe()} rejected the credentials ({exc}); check the token or client "
                           "certificate of the kubeconfig's user") from None
    except ApiError as exc:
        raise StartupError(f"{client.describe()} does not look like a Kubernetes API server: GET /version "
                           f"answered {exc}") from None
    except ValueError:  # not JSON
        raise StartupError(f"{client.describe()} does not look like a Kubernetes API server: GET /version "
                           "did not answer JSON") from None
    if not isinstance(version, dict) or "gitVersion" not in version:
        raise StartupError(f"{client.describe()} does not look like a Kubernetes API server: GET /version "
                           "answered no gitVersion")
    return str(version["gitVersion"])


async def check_crds(client: Client, namespace: str, options: ControllerOptions) -> None:
    """The MPIJob CRD must be installed and listable; with gang scheduling, so must its PodGroup CRD."""
    try:
        await client.resource(MPIJOBS).list(namespace or None, limit=1)
    except NotFound:
        raise StartupError("the MPIJob CRD (mpijobs.kubeflow.org) does not exist; install manifests/ first. "
                           "Exiting") from None
    except (Unauthorized, Forbidden) as exc:
        raise StartupError(f"not allowed to list MPIJobs: {exc}; the operator's ClusterRole "
                           "(manifests/base/cluster-role.yaml) grants what it needs") from None
    except TransportError as exc:
        raise StartupError(explain_unreachable(client, exc)) from None
    except ApiError as exc:
        log.warning("could not check for the MPIJob CRD; going on", extra={"error": str(exc)})
    pg_type = podgroup_type(options)
    if pg_type is None:
        return
    try:
        await client.resource(pg_type).list(namespace or None, limit=1)
    except NotFound:
        raise StartupError(
            f"--gang-scheduling={options.gang_scheduling} needs the PodGroup CRD {pg_type.plural}.{pg_type.group}, "
            f"which is not installed: install {'Volcano' if 'volcano' in pg_type.group else 'scheduler-plugins'} "
            "(or only its CRDs), or run without --gang-scheduling. Exiting") from None
    except TransportError as exc:
        raise StartupError(explain_unreachable(client, exc)) from None
    except ApiError as exc:
        # docs/decisions.md Q26: a Forbidden list is not fatal; the PodGroup informer shows it on /readyz.
        log.warning("could not check for the PodGroup CRD; going on", extra={"error": str(exc)})
