"""seals.ses_build: v4 SESeal and SES_Signature made with a test signer verify with the OpenSSL
CLI (distid 1234567812345678) and with gmssl, re-parse to identical bytes, and verify VALID with
our own verifier once the test root is an anchor."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seals.der import Tags
from seals.der import parse as der_parse
from seals.ses import ExtData, SealVersion, parse_seal, parse_ses_signature
from seals.ses_build import encode_seal_info_v4, make_ses_signature_v4
from seals.verification import AnchorListEvaluator, Verdict, verify_seal, verify_ses_signature
from tests.conftest import skip_or_fail
from tests.gmssl_support import gmssl_sm2
from tests.unit.seals._ses_support import (
    NOW,
    SesPki,
    der_to_pem,
    make_pki,
    make_test_seal,
    seal_spec,
)
from trust.crypto.hashing import sm3
from trust.crypto.private_keys import generate_sm2
from trust.crypto.sm2 import SM2PublicKey, decode_signature
from trust.errors import InvalidInput

SIGNED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ORIGINAL = b"<ofd:Signature>the original</ofd:Signature>"


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


@pytest.fixture(scope="module")
def seal_der(pki: SesPki) -> bytes:
    return make_test_seal(pki)


@pytest.fixture(scope="module")
def signature_der(pki: SesPki, seal_der: bytes) -> bytes:
    return make_ses_signature_v4(
        seal_der=seal_der,
        signer_cert=pki.signer.cert,
        time_info=SIGNED_AT,
        data_hash=sm3(ORIGINAL),
        property_info="/Doc_0/Signs/Sign_0/Signature.xml",
        sign=pki.signer.sign,
    )


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        skip_or_fail("openssl CLI not installed")
    assert path is not None
    return path


def _openssl_verify(tmp: Path, cert: bytes, message: bytes, signature: bytes) -> str:
    openssl = _openssl()
    (tmp / "cert.pem").write_bytes(der_to_pem(cert))
    (tmp / "msg.der").write_bytes(message)
    (tmp / "sig.der").write_bytes(signature)
    pub = subprocess.run(
        [openssl, "x509", "-in", str(tmp / "cert.pem"), "-pubkey", "-noout"],
        check=True,
        capture_output=True,
    ).stdout
    (tmp / "pub.pem").write_bytes(pub)
    done = subprocess.run(
        [
            openssl,
            "dgst",
            "-sm3",
            "-verify",
            str(tmp / "pub.pem"),
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            str(tmp / "sig.der"),
            str(tmp / "msg.der"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _gmssl_verify(cert: bytes, message: bytes, signature: bytes) -> bool:
    return _gmssl_verify_key(SM2PublicKey.from_certificate(cert), message, signature)


def _gmssl_verify_key(key: SM2PublicKey, message: bytes, signature: bytes) -> bool:
    r, s, _ = decode_signature(signature)
    return bool(gmssl_sm2(key).verify_with_sm3(f"{r:064x}{s:064x}", message))


def test_gmssl_cross_check_survives_keys_whose_x_starts_with_04() -> None:
    """Regression: CI failed once on a signer key whose x began with 0x04."""
    key = generate_sm2()
    while key.public_key().point[1] != 0x04:
        key = generate_sm2()
    signature = key.sign(b"msg")
    assert _gmssl_verify_key(key.public_key(), b"msg", signature)
    assert not _gmssl_verify_key(key.public_key(), b"msg!", signature)


def test_seal_layout_and_exact_reparse(pki: SesPki, seal_der: bytes) -> None:
    seal = parse_seal(seal_der)
    assert seal.version is SealVersion.V4
    assert seal.raw == seal_der
    assert seal.seal_info_raw == encode_seal_info_v4(seal_spec(pki))  # deterministic encoding
    assert seal.signed_bytes == seal.seal_info_raw
    assert seal.findings == ()
    assert seal.format_errors == ()
    assert (seal.vid, seal.property.name, seal.property.cert_list_type) == (
        "YWTBTEST",
        "测试机关公章",
        1,
    )
    assert seal.property.certs == (pki.signer.cert,)
    assert seal.picture.type == "PNG"
    assert seal.signature_algorithm == "1.2.156.10197.1.501"
    info = der_parse(seal.seal_info_raw).root
    prop = info.children[2]
    assert prop.children[1].is_universal(Tags.UTF8_STRING)
    assert all(c.is_universal(Tags.GENERALIZED_TIME) for c in prop.children[4:])
    assert prop.children[4].content == b"20260101000000Z"


def test_signature_layout_and_exact_reparse(signature_der: bytes, seal_der: bytes) -> None:
    sig = parse_ses_signature(signature_der)
    assert sig.raw == signature_der
    assert sig.seal.raw == seal_der
    assert sig.version is SealVersion.V4
    assert sig.tbs_version == 4
    assert sig.time_info == SIGNED_AT
    assert sig.data_hash == sm3(ORIGINAL)
    assert sig.findings == ()
    assert sig.format_errors == ()
    assert sig.timestamp is None
    assert signature_der.find(sig.tbs_raw) == 4


def test_openssl_cli_verifies_seal_and_signature(
    tmp_path: Path, pki: SesPki, seal_der: bytes, signature_der: bytes
) -> None:
    seal = parse_seal(seal_der)
    assert _openssl_verify(tmp_path, pki.maker.cert, seal.signed_bytes, seal.signed_value) == (
        "Verified OK"
    )
    sig = parse_ses_signature(signature_der)
    assert _openssl_verify(tmp_path, pki.signer.cert, sig.tbs_raw, sig.signature) == "Verified OK"
    # negative control: the wrong key
    assert _openssl_verify(tmp_path, pki.maker.cert, sig.tbs_raw, sig.signature) != "Verified OK"


def test_gmssl_verifies_seal_and_signature(
    pki: SesPki, seal_der: bytes, signature_der: bytes
) -> None:
    seal = parse_seal(seal_der)
    sig = parse_ses_signature(signature_der)
    assert _gmssl_verify(pki.maker.cert, seal.signed_bytes, seal.signed_value)
    assert _gmssl_verify(pki.signer.cert, sig.tbs_raw, sig.signature)
    assert not _gmssl_verify(pki.signer.cert, sig.tbs_raw + b"x", sig.signature)


def test_produced_objects_verify_valid_with_the_test_root_as_anchor(
    pki: SesPki, seal_der: bytes, signature_der: bytes
) -> None:
    anchors = AnchorListEvaluator([pki.root.cert])
    seal_result = verify_seal(seal_der, trust=anchors, at=SIGNED_AT)
    assert seal_result.verdict is Verdict.VALID, seal_result.to_dict()
    result = verify_ses_signature(signature_der, original=ORIGINAL, trust=anchors, now=NOW)
    assert result.verdict is Verdict.VALID, result.to_dict()
    assert result.to_dict()["checks"]["signer_signature"]["info"]["encoding"] == "der"


def test_timestamp_and_extensions_are_written_explicit(pki: SesPki, seal_der: bytes) -> None:
    der = make_ses_signature_v4(
        seal_der=seal_der,
        signer_cert=pki.signer.cert,
        time_info=SIGNED_AT,
        data_hash=sm3(ORIGINAL),
        property_info="/x",
        sign=pki.signer.sign,
        timestamp=lambda value: b"\x30\x03\x04\x01" + value[:1],
        extensions=(ExtData("1.2.3.4", False, b"v"),),
    )
    root = der_parse(der).root
    assert root.children[4].raw[:1] == b"\xa0"
    assert root.children[4].children[0].tag == 3
    assert root.children[0].children[5].raw[:1] == b"\xa0"
    sig = parse_ses_signature(der)
    assert sig.timestamp is not None
    assert sig.extensions[0].oid == "1.2.3.4"
    assert "seal.tbs_extdatas_explicit_tag" in sig.findings  # the form ofdrw writes


def test_builder_refuses_bad_requests(pki: SesPki, seal_der: bytes) -> None:
    with pytest.raises(InvalidInput):
        make_test_seal(pki, signer_certs=())
    with pytest.raises(InvalidInput):
        make_ses_signature_v4(
            seal_der=seal_der,
            signer_cert=pki.signer.cert,
            time_info=SIGNED_AT,
            data_hash=b"short",
            property_info="/x",
            sign=pki.signer.sign,
        )
    with pytest.raises(InvalidInput):  # a signer that returns raw r||s is refused
        make_ses_signature_v4(
            seal_der=seal_der,
            signer_cert=pki.signer.cert,
            time_info=SIGNED_AT,
            data_hash=sm3(b""),
            property_info="/x",
            sign=lambda m: _raw(pki, m),
        )


def _raw(pki: SesPki, message: bytes) -> bytes:
    r, s, _ = decode_signature(pki.signer.sign(message))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
