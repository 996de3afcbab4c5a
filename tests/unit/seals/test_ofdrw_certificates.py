"""The ofdrw test PKI, link by link (samples README, "all three certificates": certificate
signatures OK with the default ID, while strict path validation fails on key usage).

The ROOT -> SealBuilder link is checked on its own, apart from any path validation: the maker
certificate's issuer is the root's subject byte for byte, and the root's key signed the exact
``tbsCertificate`` bytes (SM2 with SM3, default user ID), as the facade and, independently, the
OpenSSL 3 command line say. USER's key did not sign it, and one changed byte breaks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seals.x509 import Certificate, parse_certificate
from tests.unit.ca._support import ID_OPT, run_openssl
from tests.unit.seals._ses_support import pem_to_der, sample
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.sm2 import InvalidSignature, SignatureEncoding, SM2PublicKey, sm2_verify

ROOT_SERIAL = 0x01719D2BDEC7
SEAL_BUILDER_SERIAL = 0x01719D2E201D
USER_SERIAL = 0x01719D2DAB60


def _cert(name: str) -> Certificate:
    return parse_certificate(pem_to_der(sample("ofdrw", "gm", f"{name}.crt.pem")))


def test_root_signed_the_seal_builder_certificate() -> None:
    root, maker = _cert("ROOT"), _cert("SealBuilder")
    assert (root.serial, maker.serial) == (ROOT_SERIAL, SEAL_BUILDER_SERIAL)
    assert maker.issuer_der == root.subject_der
    assert maker.signature_algorithm == OID_SM2_WITH_SM3
    root_key = SM2PublicKey.from_certificate(root.der)
    assert sm2_verify(root_key, maker.tbs, maker.signature) is SignatureEncoding.DER

    # Not by USER's key (same subject name as SealBuilder: only serial and key tell them apart).
    user = _cert("USER")
    assert user.subject_der == maker.subject_der
    assert user.serial == USER_SERIAL
    with pytest.raises(InvalidSignature):
        sm2_verify(SM2PublicKey.from_certificate(user.der), maker.tbs, maker.signature)
    # One changed byte of the signed bytes (inside the validity) is caught.
    tampered = bytearray(maker.tbs)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(InvalidSignature):
        sm2_verify(root_key, bytes(tampered), maker.signature)


def test_root_self_signature_and_root_to_user() -> None:
    root, user = _cert("ROOT"), _cert("USER")
    root_key = SM2PublicKey.from_certificate(root.der)
    assert root.issuer_der == root.subject_der
    assert sm2_verify(root_key, root.tbs, root.signature) is SignatureEncoding.DER
    assert user.issuer_der == root.subject_der
    assert sm2_verify(root_key, user.tbs, user.signature) is SignatureEncoding.DER


def test_openssl_agrees_on_the_seal_builder_link(tmp_path: Path) -> None:
    """The OpenSSL 3 CLI, given only the root's public key, the exact tbsCertificate and the
    signature (eseal spec §10: verify link by link, with the distid)."""
    root, maker = _cert("ROOT"), _cert("SealBuilder")
    (tmp_path / "root.pem").write_bytes(sample("ofdrw", "gm", "ROOT.crt.pem"))
    (tmp_path / "tbs.der").write_bytes(maker.tbs)
    (tmp_path / "sig.der").write_bytes(maker.signature)
    run_openssl("x509", "-in", "root.pem", "-pubkey", "-noout", "-out", "root.pub", cwd=tmp_path)
    verify = ("dgst", "-sm3", "-verify", "root.pub", "-sigopt", ID_OPT, "-signature", "sig.der")
    assert "Verified OK" in run_openssl(*verify, "tbs.der", cwd=tmp_path).stdout
    tampered = bytearray(maker.tbs)
    tampered[-1] ^= 0x01
    (tmp_path / "tampered.der").write_bytes(bytes(tampered))
    refused = run_openssl(*verify, "tampered.der", cwd=tmp_path, check=False)
    assert refused.returncode != 0
    # Path validation is a different question: the root lacks keyCertSign (errors 79 and 32).
    (tmp_path / "maker.pem").write_bytes(sample("ofdrw", "gm", "SealBuilder.crt.pem"))
    path = run_openssl(
        "verify",
        "-vfyopt",
        ID_OPT,
        "-partial_chain",
        "-CAfile",
        "root.pem",
        "maker.pem",
        cwd=tmp_path,
        check=False,
    )
    assert path.returncode != 0
    assert root.key_usage is not None
    assert "keyCertSign" not in root.key_usage
