"""Kueue on the real control plane: its CRDs, RBAC and webhooks from its own manifest, its manager as a process.

`hack/kueue.sh` builds the manager from Kueue's Go module and renders the module's `config/default` with
kustomize (both cached). `Kueue(cp).start()` applies that manifest less what only its Deployment needs, points
every webhook (admission and CRD conversion) at the manager on a loopback port through a CA of its own, and runs
the manager with its ServiceAccount's token. `stop()` removes the admission webhooks before the server goes.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mpi_operator.controlplane.binaries import Unavailable
from mpi_operator.controlplane.cluster import Component, ControlPlane, StartError, free_port
from mpi_operator.controlplane.install import PATHS, apply, wait_established
from mpi_operator.kube.meta import JSON
from mpi_operator.pki import CertificateAuthority

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "kueue.sh"
NAMESPACE = "kueue-system"
SERVICE_ACCOUNT = "kueue-controller-manager"
CONFIG_MAP = "kueue-manager-config"
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
API = "/apis/kueue.x-k8s.io/v1beta2"
FRAMEWORKS = ("batch/job", "kubeflow.org/mpijob")
# What only Kueue's Deployment uses (its Pod, Services, Secret, ConfigMap), and the visibility APIServices,
# which need a Service behind them; kube-apiserver would report their group unavailable on every discovery.
NOT_APPLIED = ("Deployment", "Service", "Secret", "ConfigMap", "APIService")
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
# With internal cert management off, Kueue 0.17 reads its metrics certificate from this fixed path (a Secret
# mounted there in its Deployment) and exits without it. The manager runs in a mount namespace whose /etc is
# an overlay holding that file, so the machine's /etc is never written.
METRICS_CERTS = Path("kueue/metrics/certs")
PRIVATE_ETC = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'
UNSHARE = ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private")


def locate() -> Path:
    """The directory with Kueue's `kueue` binary and rendered `kueue.yaml`, built (cached) when needed."""
    if shutil.which("go") is None:
        raise Unavailable("Go is not installed, so Kueue cannot be built from its Go module (Go >= 1.25)")
    if shutil.which("unshare") is None:
        raise Unavailable("unshare (util-linux) is not installed: Kueue runs in a mount namespace of its own")
    env = dict(os.environ)
    kubectl = Path(sys.executable).parent / "kubectl"
    if kubectl.exists():
        env.setdefault("KUBECTL", str(kubectl))
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise Unavailable(f"{BUILD_SCRIPT} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    directory = Path(done.stdout.strip().splitlines()[-1])
    if not (directory / "kueue").is_file() or not (directory / "kueue.yaml").is_file():
        raise Unavailable(f"{BUILD_SCRIPT} printed {directory}, which lacks kueue or kueue.yaml")
    return directory


def loopback_manifest(docs: list[JSON], webhook_url: str, ca_pem: bytes) -> list[JSON]:
    """Kueue's rendered manifest as applied here: no Deployment parts, every webhook at `webhook_url`."""
    bundle = base64.b64encode(ca_pem).decode()
    out = []
    for doc in docs:
        if doc["kind"] in NOT_APPLIED:
            continue
        doc = copy.deepcopy(doc)
        if doc["kind"] in WEBHOOK_KINDS:
            for hook in doc["webhooks"]:
                hook["clientConfig"] = _client_config(hook["clientConfig"], webhook_url, bundle)
        conversion = (doc.get("spec") or {}).get("conversion") or {}
        if doc["kind"] == "CustomResourceDefinition" and conversion.get("strategy") == "Webhook":
            hook = conversion["webhook"]
            hook["clientConfig"] = _client_config(hook["clientConfig"], webhook_url, bundle)
        out.append(doc)
    return out


def _client_config(config: JSON, webhook_url: str, bundle: str) -> JSON:
    return {"url": webhook_url + (config.get("service") or {}).get("path", ""), "caBundle": bundle}


def configuration(shipped: JSON, *, webhook_port: int, health_port: int, metrics_port: int, cert_dir: Path,
                  frameworks: tuple[str, ...]) -> JSON:
    """Kueue's shipped Configuration with what a single process on loopback needs instead."""
    config = copy.deepcopy(shipped)
    config.update({
        "namespace": NAMESPACE,
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        # One replica: no Lease to wait for on a restart.
        "leaderElection": {"leaderElect": False},
        # Our own certificates, whose caBundle the webhook configurations carry.
        "internalCertManagement": {"enable": False},
        "integrations": {"frameworks": list(frameworks)},
        # The visibility API is served through an APIService, which needs a Service (not applied).
        "featureGates": {**(config.get("featureGates") or {}), "VisibilityOnDemand": False},
    })
    return config


@dataclass
class Kueue:
    """Kueue installed on `cp` and its manager running; state (certificates, config, token) in `directory`."""

    cp: ControlPlane
    build_dir: Path
    directory: Path
    frameworks: tuple[str, ...] = FRAMEWORKS
    component: Component | None = None
    applied: list[JSON] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The Kueue release built (hack/kueue.sh writes it to VERSIONS)."""
        for line in (self.build_dir / "VERSIONS").read_text().splitlines():
            if line.startswith("kueue="):
                return line.removeprefix("kueue=")
        return "unknown"

    def start(self, within: float = 120.0) -> Kueue:
        started = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        webhook_port, health_port, metrics_port = free_port(), free_port(), free_port()
        ca_pem, cert_dir = self._write_certificates()
        rendered = [d for d in yaml.safe_load_all((self.build_dir / "kueue.yaml").read_text()) if d]
        self.applied = loopback_manifest(rendered, f"https://127.0.0.1:{webhook_port}", ca_pem)
        try:
            for doc in self.applied:
                apply(self.cp, doc)
            for doc in self.applied:
                if doc["kind"] == "CustomResourceDefinition":
                    wait_established(self.cp, doc["metadata"]["name"], within)
            shipped = next(d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"] == CONFIG_MAP)
            config = configuration(yaml.safe_load(shipped["data"]["controller_manager_config.yaml"]),
                                   webhook_port=webhook_port, health_port=health_port, metrics_port=metrics_port,
                                   cert_dir=cert_dir, frameworks=self.frameworks)
            (self.directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            kubeconfig = self.cp.service_account_kubeconfig(NAMESPACE, SERVICE_ACCOUNT,
                                                            self.directory / "kueue.kubeconfig")
            self.component = Component("kueue", [
                *UNSHARE, "sh", "-c", PRIVATE_ETC, "sh", str(self.directory / "etc"), str(self._overlay_work()),
                str(self.build_dir / "kueue"), f"--config={self.directory / 'config.yaml'}",
                f"--kubeconfig={kubeconfig}", "--zap-log-level=2"],
                self.cp.logs / "kueue.log", f"http://127.0.0.1:{health_port}/readyz")
            self.component.start({k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")})
            self.cp.wait_healthy(self.component, within)
            self._wait_webhooks_reachable(max(within - (time.monotonic() - started), 10.0))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _write_certificates(self) -> tuple[bytes, Path]:
        ca = CertificateAuthority("kueue-webhook-ca")
        serving = ca.issue("kueue-webhook", hosts=("127.0.0.1", "localhost"), server=True)
        cert_dir = self.directory / "certs"
        for target in (cert_dir, self.directory / "etc" / METRICS_CERTS):
            target.mkdir(parents=True, exist_ok=True)
            serving.write(target, "tls")
        return ca.pair.cert_pem, cert_dir

    def _overlay_work(self) -> Path:
        # overlayfs wants an empty work directory on the upper directory's file system, fresh each start.
        work = self.directory / "overlay-work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        return work

    def _wait_webhooks_reachable(self, within: float) -> None:
        """Until kube-apiserver gets an answer from the webhook: a dry-run create through the mutating one."""
        probe = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
                 "metadata": {"name": "webhook-probe"}}
        deadline = time.monotonic() + within
        while True:
            code, answer = self.cp.request("POST", f"{API}/resourceflavors?dryRun=All", probe)
            if code == 201:
                return
            if time.monotonic() > deadline:
                tail = self.component.tail() if self.component else ""
                raise StartError(f"kube-apiserver cannot reach Kueue's webhooks ({code}: {answer}):\n{tail}")
            time.sleep(0.2)

    def exited(self) -> int | None:
        """The manager's exit code once it has exited, else None."""
        process = self.component.process if self.component is not None else None
        return process.poll() if process is not None else None

    def stop(self) -> None:
        """Remove the admission webhooks (failurePolicy Fail would reject every MPIJob), then stop the manager."""
        for doc in self.applied:
            if doc["kind"] in WEBHOOK_KINDS:
                self.cp.request("DELETE", f"{PATHS[doc['kind']]}/{doc['metadata']['name']}")
        if self.component is not None:
            self.component.stop()

    def __enter__(self) -> Kueue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
