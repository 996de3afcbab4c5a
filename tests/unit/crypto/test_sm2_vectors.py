"""Known-answer SM2 verification over ../shared/vectors (see its README), once per backend."""

from __future__ import annotations

import pytest
from asn1crypto import x509

from tests.unit.crypto.conftest import require_backend, vector, vector_der
from trust.crypto.backend import BackendName
from trust.crypto.private_keys import load_sm2_pkcs8
from trust.crypto.sm2 import (
    DEFAULT_USER_ID,
    InvalidSignature,
    SignatureEncoding,
    SM2PublicKey,
    decode_signature,
    sm2_digest,
    sm2_verify,
)


def key(folder: str, name: str) -> SM2PublicKey:
    return SM2PublicKey.from_pem(vector(folder, name))


def assert_fails(public_key: SM2PublicKey, data: bytes, sig: bytes, **kw: bytes) -> None:
    with pytest.raises(InvalidSignature) as info:
        sm2_verify(public_key, data, sig, **kw)
    assert info.value.reason == "mismatch"


def test_annex_a(sm2_backend: BackendName) -> None:
    pub = key("sm2_annexA", "pub.pem")
    msg, sig = vector("sm2_annexA", "msg.txt"), vector("sm2_annexA", "sig.der")
    assert sm2_verify(pub, msg, sig) is SignatureEncoding.DER
    assert sm2_verify(pub, msg, sig, user_id=DEFAULT_USER_ID) is SignatureEncoding.DER
    # README "Negative": the same check with an empty user ID fails.
    assert_fails(pub, msg, sig, user_id=b"")
    assert_fails(pub, msg + b" ", sig)


def test_annex_a_private_key_gives_the_annex_public_key(sm2_backend: BackendName) -> None:
    private = load_sm2_pkcs8(vector_der("sm2_annexA", "priv.pem"))
    assert private.public_key() == key("sm2_annexA", "pub.pem")


def test_gz_tax_invoice(sm2_backend: BackendName) -> None:
    folder = "gz_tax_invoice_2022"
    signer, maker = key(folder, "signer_pub.pem"), key(folder, "maker_pub.pem")
    tbs, sig = vector(folder, "tbs_sign.der"), vector(folder, "signature.der")
    seal_info, seal_sig = vector(folder, "seal_info.der"), vector(folder, "seal_sig.der")
    assert sm2_verify(signer, tbs, sig) is SignatureEncoding.DER
    assert sm2_verify(maker, seal_info, seal_sig) is SignatureEncoding.DER
    # Cross combinations fail.
    assert_fails(maker, tbs, sig)
    assert_fails(signer, seal_info, seal_sig)
    assert_fails(signer, seal_info, sig)
    assert_fails(maker, tbs, seal_sig)
    # The keys inside the certificates are the ones that verify.
    assert SM2PublicKey.from_certificate(vector(folder, "signer_cert.der")) == signer


def test_openssl_chain(sm2_backend: BackendName) -> None:
    folder = "openssl_sm2_chain"
    signer = key(folder, "signer.pub.pem")
    maker = SM2PublicKey.from_certificate(vector_der(folder, "maker.pem"))
    msg, sig = vector(folder, "msg.bin"), vector(folder, "msg.sig")
    assert sm2_verify(signer, msg, sig) is SignatureEncoding.DER
    assert_fails(maker, msg, sig)
    assert_fails(signer, msg, sig, user_id=b"")


@pytest.mark.parametrize("name", ["root", "subca", "maker", "signer"])
def test_openssl_chain_private_keys_match_certificates(sm2_backend: BackendName, name: str) -> None:
    folder = "openssl_sm2_chain"
    private = load_sm2_pkcs8(vector_der(folder, f"{name}.key"))
    assert private.public_key() == SM2PublicKey.from_certificate(vector_der(folder, f"{name}.pem"))


@pytest.mark.parametrize(
    ("issuer", "subject"),
    [("root", "root"), ("root", "subca"), ("subca", "maker"), ("subca", "signer")],
)
def test_openssl_chain_certificate_signatures(
    sm2_backend: BackendName, issuer: str, subject: str
) -> None:
    """README: every certificate signature verifies with the default ID (tbsCertificate bytes)."""
    folder = "openssl_sm2_chain"
    cert = x509.Certificate.load(vector_der(folder, f"{subject}.pem"))
    issuer_key = SM2PublicKey.from_certificate(vector_der(folder, f"{issuer}.pem"))
    tbs, sig = cert["tbs_certificate"].dump(), bytes(cert["signature_value"].native)
    assert sm2_verify(issuer_key, tbs, sig) is SignatureEncoding.DER
    assert_fails(issuer_key, tbs, sig, user_id=b"")
    if issuer != subject:
        assert_fails(SM2PublicKey.from_certificate(vector_der(folder, f"{subject}.pem")), tbs, sig)


def test_own_v4_sample(sm2_backend: BackendName) -> None:
    folder = "own_v4_sample"
    signer, maker = key(folder, "signer.pub.pem"), key(folder, "maker.pub.pem")
    tbs, sig = vector(folder, "tbs_sign.der"), vector(folder, "signature.der")
    seal_info, seal_sig = vector(folder, "seal_info.der"), vector(folder, "seal_sig.der")
    assert sm2_verify(maker, seal_info, seal_sig) is SignatureEncoding.DER
    assert sm2_verify(signer, tbs, sig) is SignatureEncoding.DER
    assert_fails(signer, seal_info, seal_sig)
    assert_fails(maker, tbs, sig)
    assert signer == key("openssl_sm2_chain", "signer.pub.pem")


@pytest.mark.parametrize(
    ("folder", "pub", "data", "sig"),
    [
        ("sm2_annexA", "pub.pem", "msg.txt", "sig.der"),
        ("gz_tax_invoice_2022", "signer_pub.pem", "tbs_sign.der", "signature.der"),
        ("own_v4_sample", "maker.pub.pem", "seal_info.der", "seal_sig.der"),
    ],
)
def test_raw_form_of_real_signatures_verifies_and_is_reported(
    sm2_backend: BackendName, folder: str, pub: str, data: str, sig: str
) -> None:
    r, s, _ = decode_signature(vector(folder, sig))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert sm2_verify(key(folder, pub), vector(folder, data), raw) is SignatureEncoding.RAW
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    assert_fails(key(folder, pub), vector(folder, data), flipped)


def test_malformed_signature_is_refused_before_the_backend(sm2_backend: BackendName) -> None:
    pub = key("sm2_annexA", "pub.pem")
    msg, sig = vector("sm2_annexA", "msg.txt"), vector("sm2_annexA", "sig.der")
    for bad in (sig[:-1], sig + b"\x00", sig[:63], sig[:65], b""):
        with pytest.raises(InvalidSignature) as info:
            sm2_verify(pub, msg, bad)
        assert info.value.reason == "malformed"


def test_tongsuo_digest_path_reproduces_annex_a() -> None:
    """tongsuopy cannot set an ID, so non-default IDs sign/verify e = SM3(Z_A || M) computed by
    the facade through Tongsuo's SM2 pkey method. With the annex's own e this must verify the
    annex signature, and a signature made that way must verify elsewhere under the default ID."""
    tongsuo = require_backend("tongsuopy")
    from trust.crypto import _tongsuo  # importable now that the backend is known to load

    pub = key("sm2_annexA", "pub.pem")
    msg, sig = vector("sm2_annexA", "msg.txt"), vector("sm2_annexA", "sig.der")
    e = sm2_digest(pub, msg)
    assert e.hex().upper() == "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
    handle = tongsuo.load_public_key(pub.to_der())
    evp_pkey = handle._key._evp_pkey  # type: ignore[attr-defined]
    assert _tongsuo._Digest.verify(evp_pkey, sig, e)
    assert not _tongsuo._Digest.verify(evp_pkey, sig, sm2_digest(pub, msg, b""))
    private = tongsuo.load_private_key(vector_der("sm2_annexA", "priv.pem"))
    made = _tongsuo._Digest.sign(private._key._evp_pkey, e)  # type: ignore[attr-defined]
    openssl = require_backend("openssl")
    assert openssl.load_public_key(pub.to_der()).verify(msg, made, DEFAULT_USER_ID)
