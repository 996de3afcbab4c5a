"""ES256 (RFC 7518 §3.4) signing and verification, checked against joserfc as an independent
JWS implementation in both directions."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey

from tests.unit.crypto.conftest import vector, vector_der
from trust.crypto import InvalidSignature, SM2PublicKey, es256_verify, p256_public_jwk
from trust.crypto.private_keys import generate_p256, load_p256_pkcs8
from trust.errors import InvalidInput


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jose_public(public_key_der: bytes) -> ECKey:
    """joserfc key from our JWK (typed as joserfc wants it)."""
    jwk: dict[str, str | list[str]] = dict(p256_public_jwk(public_key_der))
    return ECKey.import_key(jwk)


def _compact_jws(payload: bytes, sign: object) -> str:
    header = _b64u(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64u(payload)}"
    signature = sign(signing_input.encode("ascii"))  # type: ignore[operator]
    return f"{signing_input}.{_b64u(signature)}"


def test_sign_and_verify() -> None:
    key = generate_p256()
    sig = key.sign_es256(b"claims")
    assert len(sig) == 64
    es256_verify(key.public_key_der(), b"claims", sig)
    with pytest.raises(InvalidSignature) as info:
        es256_verify(key.public_key_der(), b"claimz", sig)
    assert info.value.reason == "mismatch"


def test_pkcs8_round_trip_and_repr() -> None:
    key = generate_p256()
    again = load_p256_pkcs8(key.to_pkcs8_der())
    assert again.public_key_der() == key.public_key_der()
    assert "hidden" in repr(key)
    assert key.to_pkcs8_der().hex() not in repr(key)


def test_facade_jws_verifies_under_joserfc() -> None:
    key = generate_p256()
    jwk = p256_public_jwk(key.public_key_der())
    assert set(jwk) == {"kty", "crv", "x", "y"}
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    token = _compact_jws(b'{"sub":"1"}', key.sign_es256)
    result = jws.deserialize_compact(
        token, _jose_public(key.public_key_der()), algorithms=["ES256"]
    )
    assert result.payload == b'{"sub":"1"}'
    other = _jose_public(generate_p256().public_key_der())
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(token, other, algorithms=["ES256"])


def test_joserfc_jws_verifies_under_facade() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jose_key = ECKey.import_key(pem)
    token = jws.serialize_compact({"alg": "ES256"}, b"payload", jose_key, algorithms=["ES256"])
    header, payload, sig = token.split(".")
    public_der = load_p256_pkcs8(
        serialization.load_pem_private_key(pem, None).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    ).public_key_der()
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    es256_verify(public_der, f"{header}.{payload}".encode(), raw)
    # The JWK joserfc exports for that key equals ours.
    public = jose_key.as_dict(private=False)
    assert {k: public[k] for k in ("kty", "crv", "x", "y")} == p256_public_jwk(public_der)


@pytest.mark.parametrize("bad", [b"", b"\x01" * 63, b"\x01" * 65, bytes(64)])
def test_malformed_es256_signatures(bad: bytes) -> None:
    key = generate_p256()
    with pytest.raises(InvalidSignature) as info:
        es256_verify(key.public_key_der(), b"x", bad)
    assert info.value.reason == "malformed"


def test_der_signature_is_not_es256() -> None:
    pyca_key = ec.generate_private_key(ec.SECP256R1())
    der_sig = pyca_key.sign(b"x", ec.ECDSA(hashes.SHA256()))  # X9.62 DER, not JWS form
    public_der = pyca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidSignature):
        es256_verify(public_der, b"x", der_sig)


def test_non_p256_keys_are_refused() -> None:
    sm2_der = SM2PublicKey.from_pem(vector("sm2_annexA", "pub.pem")).to_der()
    for bad in (sm2_der, b"", b"\x30\x00"):
        with pytest.raises(InvalidInput) as info:
            es256_verify(bad, b"x", bytes(64))
        assert info.value.code == "crypto.bad_public_key"
        with pytest.raises(InvalidInput):
            p256_public_jwk(bad)
    for bad_private in (b"not a key", vector_der("sm2_annexA", "priv.pem")):
        with pytest.raises(InvalidInput) as info:
            load_p256_pkcs8(bad_private)
        assert info.value.code == "crypto.bad_private_key"
