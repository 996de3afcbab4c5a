"""Cross-checks of the facade with independent SM2 implementations: gmssl (pure Python), the
OpenSSL 3 command line, a naive oracle written from GB/T 32918.2, and the other backend."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys

from tests.gmssl_support import gmssl_sm2
from tests.unit.crypto import _sm2_oracle as oracle
from trust.crypto.backend import BackendName, SM2Backend
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2, load_sm2_pkcs8
from trust.crypto.sm2 import (
    DEFAULT_USER_ID,
    InvalidSignature,
    SignatureEncoding,
    SM2PublicKey,
    decode_signature,
    sm2_verify,
)

ALICE = b"ALICE123@YAHOO.COM"
MESSAGE = "一网通办 SM2 interop".encode()


def _private_scalar(key: SM2PrivateKey) -> int:
    """d from our own PKCS#8 export (RFC 5915 ECPrivateKey inside PKCS#8)."""
    info = keys.PrivateKeyInfo.load(key.to_pkcs8_der())
    return int(info["private_key"].parsed["private_key"].native)


# --- gmssl ---------------------------------------------------------------------------------


def test_facade_signature_verifies_under_gmssl(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    r, s, encoding = decode_signature(key.sign(MESSAGE))
    assert encoding is SignatureEncoding.DER
    assert gmssl_sm2(key.public_key()).verify_with_sm3(f"{r:064x}{s:064x}", MESSAGE)
    assert not gmssl_sm2(key.public_key()).verify_with_sm3(f"{r:064x}{s:064x}", MESSAGE + b"!")


def test_gmssl_signature_verifies_under_facade(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    crypt = gmssl_sm2(key.public_key(), f"{_private_scalar(key):064x}")
    k = secrets.token_hex(32)  # gmssl's own nonce comes from `random`: never use it
    raw_hex = crypt.sign_with_sm3(MESSAGE, k)
    assert raw_hex is not None
    raw = bytes.fromhex(raw_hex)
    assert sm2_verify(key.public_key(), MESSAGE, raw) is SignatureEncoding.RAW
    with pytest.raises(InvalidSignature):
        sm2_verify(key.public_key(), MESSAGE, raw, user_id=ALICE)


def test_oracle_agrees_on_non_default_ids(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    pub = key.public_key()
    for user_id in (ALICE, b"", b"\x00" * 100):
        r, s, _ = decode_signature(key.sign(MESSAGE, user_id=user_id))
        assert oracle.verify(pub.x, pub.y, MESSAGE, r, s, user_id)
        assert not oracle.verify(pub.x, pub.y, MESSAGE, r, s, DEFAULT_USER_ID)


# --- OpenSSL command line (eseal spec §10) -----------------------------------------------


def _cli(openssl: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [openssl, *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize("user_id", [DEFAULT_USER_ID, ALICE])
def test_facade_signature_verifies_with_openssl_cli(
    sm2_backend: BackendName, openssl_cli: str, tmp_path: Path, user_id: bytes
) -> None:
    key = generate_sm2()
    (tmp_path / "pub.pem").write_text(key.public_key().to_pem())
    (tmp_path / "data").write_bytes(MESSAGE)
    (tmp_path / "sig.der").write_bytes(key.sign(MESSAGE, user_id=user_id))
    distid = f"distid:{user_id.decode()}"
    args = ("dgst", "-sm3", "-verify", tmp_path / "pub.pem", "-sigopt", distid)
    ok = _cli(openssl_cli, *args, "-signature", tmp_path / "sig.der", tmp_path / "data")
    assert ok.returncode == 0, ok.stderr
    assert "Verified OK" in ok.stdout
    (tmp_path / "data").write_bytes(MESSAGE + b"x")
    bad = _cli(openssl_cli, *args, "-signature", tmp_path / "sig.der", tmp_path / "data")
    assert bad.returncode != 0


@pytest.mark.parametrize("user_id", [DEFAULT_USER_ID, ALICE])
def test_openssl_cli_signature_verifies_under_facade(
    sm2_backend: BackendName, openssl_cli: str, tmp_path: Path, user_id: bytes
) -> None:
    key_pem = tmp_path / "key.pem"
    assert _cli(openssl_cli, "genpkey", "-algorithm", "SM2", "-out", key_pem).returncode == 0
    pub = _cli(openssl_cli, "pkey", "-in", key_pem, "-pubout")
    assert pub.returncode == 0, pub.stderr
    (tmp_path / "data").write_bytes(MESSAGE)
    sign = _cli(
        openssl_cli, "dgst", "-sm3", "-sign", key_pem, "-sigopt", f"distid:{user_id.decode()}",
        "-out", tmp_path / "sig.der", tmp_path / "data",
    )  # fmt: skip
    assert sign.returncode == 0, sign.stderr
    public_key = SM2PublicKey.from_pem(pub.stdout)
    sig = (tmp_path / "sig.der").read_bytes()
    assert sm2_verify(public_key, MESSAGE, sig, user_id=user_id) is SignatureEncoding.DER
    other = ALICE if user_id == DEFAULT_USER_ID else DEFAULT_USER_ID
    with pytest.raises(InvalidSignature):
        sm2_verify(public_key, MESSAGE, sig, user_id=other)
    # The CLI's key, exported as PKCS#8 DER, loads in the facade and signs for the same key.
    der = _cli(openssl_cli, "pkey", "-in", key_pem, "-outform", "DER", "-out", tmp_path / "k.der")
    assert der.returncode == 0
    private = load_sm2_pkcs8((tmp_path / "k.der").read_bytes())
    assert private.public_key() == public_key


# --- the two backends against each other ---------------------------------------------------


def test_backends_cross_verify(sm2_backend: BackendName, other_backend: SM2Backend) -> None:
    key = generate_sm2()
    spki = key.public_key().to_der()
    for user_id in (DEFAULT_USER_ID, ALICE, b""):
        sig = key.sign(MESSAGE, user_id=user_id)
        assert other_backend.load_public_key(spki).verify(MESSAGE, sig, user_id)
        assert not other_backend.load_public_key(spki).verify(MESSAGE + b".", sig, user_id)
        theirs = other_backend.load_private_key(key.to_pkcs8_der()).sign(MESSAGE, user_id)
        sm2_verify(key.public_key(), MESSAGE, theirs, user_id=user_id)


def test_pkcs8_moves_between_backends(sm2_backend: BackendName, other_backend: SM2Backend) -> None:
    key = generate_sm2()
    handle = other_backend.load_private_key(key.to_pkcs8_der())
    assert SM2PublicKey.from_der(handle.spki_der()) == key.public_key()
    back = load_sm2_pkcs8(handle.pkcs8_der())
    assert back.public_key() == key.public_key()
    sm2_verify(key.public_key(), MESSAGE, back.sign(MESSAGE))
