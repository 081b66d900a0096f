"""A broken kubeconfig is one ConfigError naming the file, where its path came from, the field and the fix;
TLS that cannot work fails at once, without retries, with the fix. Real files and a real TLS server."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mpi_operator.kube.client import Client
from mpi_operator.kube.errors import ConnectionSetupError
from mpi_operator.kube.kubeconfig import ConfigError, check_kubeconfig
from mpi_operator.preflight import StartupError, check_server


def kubeconfig(server: str = "http://127.0.0.1:6443", cluster: dict[str, Any] | None = None,
               user: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "current-context": "ctx",
        "clusters": [{"name": "prod", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "admin", "user": user if user is not None else {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "prod", "user": "admin"}}]}
    doc.update(top)
    return doc


def write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def problem(path: Path, source: str = "--kubeconfig") -> str:
    with pytest.raises(ConfigError) as raised:
        check_kubeconfig(str(path), source)
    return str(raised.value)


def self_signed(name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


BROKEN: dict[str, tuple[Callable[[Path], Any], str]] = {
    "empty file": (lambda d: "", "the file is empty"),
    "not YAML": (lambda d: "clusters: [\n", "not valid YAML at line 2, column 1"),
    "a list": (lambda d: "- 1\n", "not a kubeconfig: the file holds a list"),
    "clusters not a list": (lambda d: kubeconfig(clusters={"prod": {}}), "clusters must be a list"),
    "no current-context": (lambda d: {k: v for k, v in kubeconfig().items() if k != "current-context"},
                           "no current-context is set; choose one with `kubectl config use-context NAME` "
                           "(contexts: ctx)"),
    "unknown current-context": (lambda d: {**kubeconfig(), "current-context": "staging"},
                                "current-context is 'staging', but contexts has no entry of that name"),
    "unknown cluster": (lambda d: kubeconfig(contexts=[{"name": "ctx", "context": {"cluster": "x", "user": "admin"}}]),
                        "contexts[ctx].context.cluster is 'x', but clusters has no entry of that name (clusters: "
                        "prod)"),
    "unknown user": (lambda d: kubeconfig(contexts=[{"name": "ctx", "context": {"cluster": "prod", "user": "x"}}]),
                     "contexts[ctx].context.user is 'x', but users has no entry of that name"),
    "no server": (lambda d: kubeconfig(server=""), "clusters[prod].cluster.server is missing"),
    "server not a URL": (lambda d: kubeconfig(server="prod.example.com:6443"),
                         "clusters[prod].cluster.server 'prod.example.com:6443' is not an http:// or https:// URL"),
    "CA file missing": (lambda d: kubeconfig("https://127.0.0.1:6443", {"certificate-authority": "ca.crt"}),
                        "clusters[prod].cluster.certificate-authority: cannot read {dir}/ca.crt: No such file"),
    "CA not a certificate": (lambda d: (write(d / "ca.crt", "not a cert"),
                                        kubeconfig("https://127.0.0.1:6443", {"certificate-authority": "ca.crt"}))[1],
                             "clusters[prod].cluster.certificate-authority: holds no usable PEM certificate"),
    "CA data not base64": (lambda d: kubeconfig("https://127.0.0.1:6443", {"certificate-authority-data": "!!"}),
                           "clusters[prod].cluster.certificate-authority-data is not base64"),
    "CA data not a certificate": (
        lambda d: kubeconfig("https://127.0.0.1:6443",
                             {"certificate-authority-data": base64.b64encode(b"hello").decode()}),
        "clusters[prod].cluster.certificate-authority-data: holds no usable PEM certificate"),
    "client certificate without key": (
        lambda d: (write(d / "c.crt", self_signed("c")[0].decode()),
                   kubeconfig("https://127.0.0.1:6443", user={"client-certificate": "c.crt"}))[1],
        "users[admin].user has a client-certificate without a client-key"),
    "tokenFile missing": (lambda d: kubeconfig(user={"tokenFile": "/no/such/token"}),
                          "users[admin].user.tokenFile: cannot read /no/such/token: No such file"),
    "exec plugin missing": (lambda d: kubeconfig(user={"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                                "command": "no-such-credential-plugin"}}),
                            "users[admin].user.exec.command 'no-such-credential-plugin' is not an executable on "
                            "PATH"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_kubeconfig_names_file_source_and_field(case: str, tmp_path: Path) -> None:
    make, expected = BROKEN[case]
    path = write(tmp_path / "config", make(tmp_path))
    message = problem(path, "$KUBECONFIG")
    assert message.startswith(f"kubeconfig {path} (from $KUBECONFIG): ")
    assert expected.format(dir=tmp_path) in message


def test_a_missing_file_is_named_with_its_source(tmp_path: Path) -> None:
    assert problem(tmp_path / "nope") == (f"kubeconfig {tmp_path}/nope (from --kubeconfig): no such file; pass the "
                                          "path of an existing kubeconfig")


def test_a_kubeconfig_list_is_merged_like_the_loader(tmp_path: Path) -> None:
    # $KUBECONFIG=a:b: a names the context, b holds the cluster and user; missing entries of the list are skipped.
    first = write(tmp_path / "a", {"current-context": "ctx",
                                   "contexts": [{"name": "ctx", "context": {"cluster": "prod", "user": "admin"}}]})
    second = write(tmp_path / "b", {**kubeconfig(), "current-context": ""})
    target = check_kubeconfig(f"{first}:{tmp_path / 'missing'}:{second}", "$KUBECONFIG")
    assert (target.context, target.cluster, target.server, target.path) == ("ctx", "prod", "http://127.0.0.1:6443",
                                                                             str(second))


def test_a_valid_tls_kubeconfig_with_relative_files_passes(tmp_path: Path) -> None:
    cert, key = self_signed("client")
    write(tmp_path / "ca.crt", self_signed("ca")[0].decode())
    write(tmp_path / "c.crt", cert.decode())
    write(tmp_path / "c.key", key.decode())
    path = write(tmp_path / "config", kubeconfig("https://127.0.0.1:6443", {"certificate-authority": "ca.crt"},
                                                 {"client-certificate": "c.crt", "client-key": "c.key"}))
    assert check_kubeconfig(str(path), "--kubeconfig").server == "https://127.0.0.1:6443"


async def test_a_client_key_that_does_not_match_its_certificate_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "c.crt", self_signed("client")[0].decode())
    write(tmp_path / "c.key", self_signed("other")[1].decode())
    path = write(tmp_path / "config", kubeconfig("https://127.0.0.1:6443", user={
        "client-certificate": "c.crt", "client-key": "c.key"}, clusters=[{"name": "prod", "cluster": {
            "server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}]))
    with pytest.raises(ConfigError) as raised:
        await Client.connect(str(path))
    assert str(raised.value).startswith("the API server at https://127.0.0.1:6443 (kubeconfig ")
    assert "the TLS settings cannot be used" in str(raised.value)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS server with a self-signed certificate that answers /version."""
    cert, key = self_signed("server")
    write(tmp_path / "server.crt", cert.decode())
    write(tmp_path / "server.key", key.decode())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"gitVersion": "v1.37.0"})

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_an_untrusted_server_certificate_fails_at_once_with_the_fix(tls_server: str, tmp_path: Path) -> None:
    write(tmp_path / "ca.crt", self_signed("some other ca")[0].decode())
    path = write(tmp_path / "config", kubeconfig(tls_server, {"certificate-authority": "ca.crt"}))
    async with await Client.connect(str(path)) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionSetupError):
            await client.request("GET", "/version")
        assert time.monotonic() - started < 2, "not retried"
        with pytest.raises(StartupError) as raised:
            await check_server(client)
    assert "certificate is not trusted: set certificate-authority" in str(raised.value)


async def test_the_right_ca_connects(tls_server: str, tmp_path: Path) -> None:
    write(tmp_path / "ca.crt", (tmp_path / "server.crt").read_text())
    path = write(tmp_path / "config", kubeconfig(tls_server, {"certificate-authority": "ca.crt"}))
    async with await Client.connect(str(path)) as client:
        assert await check_server(client) == "v1.37.0"
