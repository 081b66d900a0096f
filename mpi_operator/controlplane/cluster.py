"""`ControlPlane`: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as child processes.

Everything lives in one directory: certificates (a CA, the API server's serving certificate, client
certificates for admin `system:masters`, the controller manager and the scheduler), the service-account
signing key, kubeconfigs, etcd's data and each component's log. Ports are free loopback ports, so runs can
share a machine. `start()` returns once `/readyz` answers and the controller manager has made the
`default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (pods can then be created); `stop()` ends
them all. `restart_apiserver()` and `compact_etcd()` are the faults tests ask for.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpi_operator.pki import CertificateAuthority, rsa_key_pem

SERVICE_CIDR = "10.0.0.0/24"
API_SERVICE_IP = "10.0.0.1"
CLUSTER_DOMAIN = "cluster.local"
STOP_GRACE = 10.0


class StartError(Exception):
    """A component did not become ready; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": user,
           "clusters": [{"name": "controlplane", "cluster": {"server": server, "certificate-authority": str(ca)}}],
           "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
           "contexts": [{"name": user, "context": {"cluster": "controlplane", "user": user}}]}
    return json.dumps(doc, indent=2) + "\n"


def token_kubeconfig(server: str, ca_pem: bytes, token: str, user: str, namespace: str = "default") -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": user,
           "clusters": [{"name": "controlplane", "cluster": {
               "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
           "users": [{"name": user, "user": {"token": token}}],
           "contexts": [{"name": user, "context": {"cluster": "controlplane", "user": user,
                                                    "namespace": namespace}}]}
    return json.dumps(doc, indent=2) + "\n"


@dataclass
class Component:
    name: str
    args: list[str]
    log: Path
    health: str                      # URL answering 200 when ready
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        handle = self.log.open("ab")
        try:
            self.process = subprocess.Popen(self.args, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        finally:
            handle.close()

    def stop(self, grace: float = STOP_GRACE) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ControlPlane:
    """One control plane in `directory`, from the binaries in `bin_dir`."""

    bin_dir: Path
    directory: Path
    extra_apiserver_args: list[str] = field(default_factory=list)
    # Appended last, so they override: the benchmark raises the client QPS of both (defaults 20 and 50).
    extra_controller_manager_args: list[str] = field(default_factory=list)
    extra_scheduler_args: list[str] = field(default_factory=list)
    components: dict[str, Component] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pki = self.directory / "pki"
        self.logs = self.directory / "logs"
        self.pki.mkdir(exist_ok=True)
        self.logs.mkdir(exist_ok=True)

    # ------------------------------------------------------------------ files

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    def _write_pki(self) -> None:
        ca = CertificateAuthority("mpi-operator-controlplane-ca")
        ca.pair.write(self.pki, "ca")
        hosts = ("127.0.0.1", "localhost", API_SERVICE_IP, "kubernetes", "kubernetes.default",
                 "kubernetes.default.svc", f"kubernetes.default.svc.{CLUSTER_DOMAIN}")
        ca.issue("kube-apiserver", hosts=hosts, server=True).write(self.pki, "apiserver")
        ca.issue("admin", organization="system:masters", client=True).write(self.pki, "admin")
        ca.issue("system:kube-controller-manager", client=True).write(self.pki, "controller-manager")
        ca.issue("system:kube-scheduler", client=True).write(self.pki, "scheduler")
        ca.issue("kube-apiserver-kubelet-client", organization="system:masters", client=True).write(
            self.pki, "apiserver-kubelet-client")
        ca.issue("front-proxy-client", client=True).write(self.pki, "front-proxy-client")
        private, public = rsa_key_pem()
        (self.pki / "sa.key").write_bytes(private)
        (self.pki / "sa.key").chmod(0o600)
        (self.pki / "sa.pub").write_bytes(public)

    def _write_kubeconfigs(self) -> None:
        for user, stem in (("admin", "admin"), ("controller-manager", "controller-manager"),
                           ("scheduler", "scheduler")):
            path = self.directory / f"{user}.kubeconfig"
            path.write_text(kubeconfig(self.url, self.ca_file, self.pki / f"{stem}.crt", self.pki / f"{stem}.key",
                                       user))
            path.chmod(0o600)

    # ------------------------------------------------------------------ components

    def _build_components(self) -> None:
        b, pki, d = self.bin_dir, self.pki, self.directory
        etcd_port, peer_port = free_port(), free_port()
        api_port, kcm_port, sched_port = free_port(), free_port(), free_port()
        self.url = f"https://127.0.0.1:{api_port}"
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        self.components = {
            "etcd": Component("etcd", [
                str(b / "etcd"), "--name=default", f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync", "--log-level=warn", "--listen-metrics-urls="],
                self.logs / "etcd.log", f"{self.etcd_url}/health"),
            "kube-apiserver": Component("kube-apiserver", [
                str(b / "kube-apiserver"), f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
                f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}", f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--endpoint-reconciler-type=none", "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                # The aggregation layer's request-header authentication (also read by the controller
                # manager and scheduler, which log errors every few seconds without it).
                f"--requestheader-client-ca-file={pki / 'ca.crt'}", "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                "--profiling=false", "--v=1", *self.extra_apiserver_args],
                self.logs / "kube-apiserver.log", f"{self.url}/readyz"),
            "kube-controller-manager": Component("kube-controller-manager", [
                str(b / "kube-controller-manager"), f"--kubeconfig={d / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={d / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1", f"--secure-port={kcm_port}", "--leader-elect=false",
                "--controllers=*", "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1",
                *self.extra_controller_manager_args],
                self.logs / "kube-controller-manager.log", f"https://127.0.0.1:{kcm_port}/healthz"),
            "kube-scheduler": Component("kube-scheduler", [
                str(b / "kube-scheduler"), f"--kubeconfig={d / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={d / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1", f"--secure-port={sched_port}", "--leader-elect=false",
                "--profiling=false", "--v=1", *self.extra_scheduler_args],
                self.logs / "kube-scheduler.log", f"https://127.0.0.1:{sched_port}/healthz"),
        }

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        context.check_hostname = False
        return context

    def _get(self, url: str, timeout: float = 2.0) -> tuple[int, bytes]:
        context = None
        if url.startswith(self.url):
            context = self._ssl()
        elif url.startswith("https"):
            # The controller manager and the scheduler serve with certificates they make themselves.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()
        except (OSError, ssl.SSLError) as e:
            return 0, str(e).encode()

    def wait_healthy(self, component: Component, within: float) -> None:
        deadline = time.monotonic() + within
        delay = 0.05
        while True:
            code, body = self._get(component.health)
            if code == 200:
                return
            if component.process is not None and component.process.poll() is not None:
                raise StartError(f"{component.name} exited with {component.process.returncode}:\n{component.tail()}")
            if time.monotonic() > deadline:
                raise StartError(f"{component.name} not healthy after {within:.0f}s at {component.health} "
                                 f"({code}: {body[-300:].decode(errors='replace')}):\n{component.tail()}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """An admin request (for set-up and checks outside the code under test)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ssl()) as resp:
                raw = resp.read()
                return int(resp.status), json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return int(e.code), json.loads(raw)
            except ValueError:
                return int(e.code), raw.decode(errors="replace")

    def _wait_for(self, path: str, within: float) -> None:
        deadline = time.monotonic() + within
        while self.request("GET", path)[0] != 200:
            if time.monotonic() > deadline:
                raise StartError(f"{path} did not appear within {within:.0f}s:\n"
                                 f"{self.components['kube-controller-manager'].tail()}")
            time.sleep(0.1)

    # ------------------------------------------------------------------ lifecycle

    def start(self, within: float = 120.0) -> ControlPlane:
        started = time.monotonic()
        self._write_pki()
        self._build_components()
        self._write_kubeconfigs()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
        try:
            for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                component = self.components[name]
                component.start(env)
                self.wait_healthy(component, within)
            self._wait_for("/api/v1/namespaces/default/serviceaccounts/default", within)
            self._wait_for("/api/v1/namespaces/default/configmaps/kube-root-ca.crt", within)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            component = self.components.get(name)
            if component is not None:
                component.stop()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def restart_apiserver(self, down_seconds: float = 0.0, within: float = 120.0) -> None:
        """Stop kube-apiserver, optionally stay down a while, and start it again on the same port."""
        component = self.components["kube-apiserver"]
        component.stop()
        if down_seconds > 0:
            time.sleep(down_seconds)
        component.start({k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")})
        self.wait_healthy(component, within)

    def _etcd(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def etcd_revision(self) -> int:
        answer = self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})
        return int(answer["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision: every older resourceVersion answers 410 Gone from now on."""
        revision = self.etcd_revision()
        self._etcd("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path, seconds: int = 86400) -> Path:
        """A kubeconfig with a bound token of ServiceAccount `namespace/name` (TokenRequest)."""
        code, answer = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                     "spec": {"expirationSeconds": seconds}})
        if code != 201:
            raise StartError(f"TokenRequest for {namespace}/{name} answered {code}: {answer}")
        path.write_text(token_kubeconfig(self.url, self.ca_file.read_bytes(), answer["status"]["token"],
                                         f"system:serviceaccount:{namespace}:{name}", namespace))
        path.chmod(0o600)
        return path
