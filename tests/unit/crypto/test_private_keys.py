"""SM2 private keys through the facade: generation, PKCS#8, signing, refusal of wrong keys."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.unit.crypto.conftest import vector_der
from trust.crypto.backend import BackendName
from trust.crypto.private_keys import generate_sm2, load_sm2_pkcs8
from trust.crypto.sm2 import SignatureEncoding, decode_signature, sm2_verify
from trust.errors import InvalidInput


def test_generate_sign_verify(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    sig = key.sign(b"data")
    assert decode_signature(sig)[2] is SignatureEncoding.DER
    assert 8 <= len(sig) <= 72
    assert sm2_verify(key.public_key(), b"data", sig) is SignatureEncoding.DER


def test_nonce_is_fresh(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    signatures = {key.sign(b"same message") for _ in range(8)}
    assert len(signatures) == 8
    assert len({decode_signature(s)[0] for s in signatures}) == 8  # r differs: k differs


def test_pkcs8_round_trip(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    der = key.to_pkcs8_der()
    again = load_sm2_pkcs8(der)
    assert again.public_key() == key.public_key()
    sm2_verify(key.public_key(), b"m", again.sign(b"m"))


def test_repr_hides_private_bytes(sm2_backend: BackendName) -> None:
    key = load_sm2_pkcs8(vector_der("sm2_annexA", "priv.pem"))
    text = repr(key)
    assert text == "<SM2PrivateKey (private bytes hidden)>"
    assert "3945208f" not in text.lower()


def _p256_pkcs8() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("kind", ["garbage", "empty", "P-256", "truncated", "public key"])
def test_bad_private_keys_are_refused(sm2_backend: BackendName, kind: str) -> None:
    good = vector_der("sm2_annexA", "priv.pem")
    data = {
        "garbage": b"\x30\x03\x02\x01\x00",
        "empty": b"",
        "P-256": _p256_pkcs8(),
        "truncated": good[:-10],
        "public key": vector_der("sm2_annexA", "pub.pem"),
    }[kind]
    with pytest.raises(InvalidInput) as info:
        load_sm2_pkcs8(data)
    assert info.value.code == "crypto.bad_private_key"
    assert good.hex() not in info.value.detail


def test_oversized_user_id_is_refused(sm2_backend: BackendName) -> None:
    key = generate_sm2()
    with pytest.raises(InvalidInput) as info:
        key.sign(b"m", user_id=b"x" * 8192)
    assert info.value.code == "crypto.bad_user_id"
    with pytest.raises(InvalidInput):
        sm2_verify(key.public_key(), b"m", key.sign(b"m"), user_id=b"x" * 8192)


def test_concurrent_use_of_one_key(sm2_backend: BackendName) -> None:
    """Web workers share key handles across threads; ctypes/cffi release the GIL meanwhile."""
    key = generate_sm2()
    public = key.public_key()

    def work(i: int) -> bool:
        message = f"message {i}".encode()
        for _ in range(20):
            sm2_verify(public, message, key.sign(message))
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(8)))
