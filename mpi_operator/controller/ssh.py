"""The SSH Secret `<name>-ssh`: one ECDSA P-521 key pair per job, generated once at Secret creation.

Invariant: key material never reaches a log or a repr (SSHKeyPair hides it); an existing Secret is judged
by its key names only (docs/decisions.md Q15), never by its contents.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mpi_operator.api.types import MPIJob
from mpi_operator.controller import names
from mpi_operator.kube.meta import JSON

EXPECTED_KEYS = sorted([names.SSH_PRIVATE_KEY, names.SSH_PUBLIC_KEY])


@dataclass(frozen=True)
class SSHKeyPair:
    """PEM private key and OpenSSH public key line; repr shows no key material."""

    private_pem: bytes = field(repr=False)
    public_line: bytes = field(repr=False)


def generate_ssh_key_pair() -> SSHKeyPair:
    """A fresh P-521 pair: SEC1 "EC PRIVATE KEY" PEM and `ecdsa-sha2-nistp521 <b64>\\n` (no comment)."""
    key = ec.generate_private_key(ec.SECP521R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return SSHKeyPair(private_pem=private_pem, public_line=public + b"\n")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def desired_secret(job: MPIJob, keys: SSHKeyPair) -> JSON:
    """The Secret to create (or whose `data` replaces a Secret with the wrong key names)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": names.object_meta(job, names.secret_name(job), names.app_labels(job)),
        "type": names.SSH_AUTH_SECRET_TYPE,
        "data": {
            names.SSH_PRIVATE_KEY: _b64(keys.private_pem),
            names.SSH_PUBLIC_KEY: _b64(keys.public_line),
        },
    }


def secret_needs_new_keys(existing: JSON) -> bool:
    """True when the Secret's data key names are not exactly ssh-privatekey and ssh-publickey."""
    return sorted(existing.get("data") or {}) != EXPECTED_KEYS
