"""The SSH Secret: P-521 key pair, Secret layout, key-name comparison (checklist 40-41, docs/decisions.md Q15)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mpi_operator.controller.ssh import desired_secret, generate_ssh_key_pair, secret_needs_new_keys
from tests.controller.factory import UID, make_job


def test_key_pair_is_p521_sec1_pem_and_openssh_line() -> None:
    keys = generate_ssh_key_pair()
    assert keys.private_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----\n")
    private = serialization.load_pem_private_key(keys.private_pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(private.curve, ec.SECP521R1)
    kind, blob = keys.public_line.decode().rstrip("\n").split(" ")
    assert kind == "ecdsa-sha2-nistp521"
    assert keys.public_line.endswith(b"\n") and keys.public_line.count(b" ") == 1
    public = serialization.load_ssh_public_key(keys.public_line.rstrip())
    assert public == private.public_key()
    assert base64.b64decode(blob)


def test_key_material_is_not_in_repr() -> None:
    keys = generate_ssh_key_pair()
    assert "PRIVATE" not in repr(keys) and "ecdsa" not in repr(keys)


def test_secret_layout() -> None:
    keys = generate_ssh_key_pair()
    secret = desired_secret(make_job(), keys)
    assert secret["apiVersion"] == "v1" and secret["kind"] == "Secret"
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert secret["metadata"]["name"] == "demo-ssh"
    assert secret["metadata"]["labels"] == {"app": "demo"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == UID
    assert base64.b64decode(secret["data"]["ssh-privatekey"]) == keys.private_pem
    assert base64.b64decode(secret["data"]["ssh-publickey"]) == keys.public_line


def test_only_key_names_are_compared() -> None:
    assert not secret_needs_new_keys({"data": {"ssh-privatekey": "eA==", "ssh-publickey": "eA=="}})
    assert secret_needs_new_keys({"data": {"ssh-privatekey": "eA=="}})
    assert secret_needs_new_keys({"data": {"ssh-privatekey": "", "ssh-publickey": "", "extra": ""}})
    assert secret_needs_new_keys({})
