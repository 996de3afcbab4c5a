"""OFD ``Type="Sign"``: GB/T 35275 SignedData in SignedValue.dat, forms A (signed attributes,
messageDigest = SM3(Signature.xml)) and B (attached 32-byte digest), eseal spec §8."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from seals.der_build import (
    enc_explicit,
    enc_integer,
    enc_octets,
    enc_oid,
    enc_seq,
    enc_set_of,
    enc_tlv,
)
from seals.verification import (
    AnchorListEvaluator,
    CheckStatus,
    Verdict,
    verify_ofd,
    verify_signed_data,
)
from seals.x509 import parse_certificate
from tests.unit.seals._ses_support import NOW, SesPki, make_pki, minimal_ofd, unzip, zip_files
from trust.crypto.hashing import sm3
from trust.crypto.sm2 import decode_signature

SM3 = "1.2.156.10197.1.401"
SIGNING_TIME = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


def _signed_data(pki: SesPki, signature_xml: bytes, form: str, *, raw_rs: bool = False) -> bytes:
    cert = parse_certificate(pki.signer.cert)
    digest = sm3(signature_xml)
    attrs_part = b""
    if form == "A":
        attrs = enc_set_of(
            [
                enc_seq(
                    enc_oid("1.2.840.113549.1.9.3"),
                    enc_set_of([enc_oid("1.2.156.10197.6.1.4.2.1")]),
                ),
                enc_seq(enc_oid("1.2.840.113549.1.9.4"), enc_set_of([enc_octets(digest)])),
                enc_seq(
                    enc_oid("1.2.840.113549.1.9.5"),
                    enc_set_of([enc_tlv(0x17, SIGNING_TIME.strftime("%y%m%d%H%M%SZ").encode())]),
                ),
            ]
        )
        signature = pki.signer.sign(attrs)
        attrs_part = b"\xa0" + attrs[1:]
        inner = enc_seq(enc_oid("1.2.840.113549.1.7.1"))
    else:
        signature = pki.signer.sign(digest)
        inner = enc_seq(enc_oid("1.2.156.10197.6.1.4.2.1"), enc_explicit(0, enc_octets(digest)))
    if raw_rs:
        r, s, _ = decode_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    signer_info = enc_seq(
        enc_integer(1),
        enc_seq(cert.issuer_der, enc_integer(cert.serial)),
        enc_seq(enc_oid(SM3)),
        attrs_part,
        enc_seq(enc_oid("1.2.156.10197.1.301.1")),
        enc_octets(signature),
    )
    signed_data = enc_seq(
        enc_integer(1),
        enc_set_of([enc_seq(enc_oid(SM3))]),
        inner,
        enc_tlv(0xA0, pki.signer.cert),
        enc_set_of([signer_info]),
    )
    return enc_seq(enc_oid("1.2.156.10197.6.1.4.2.2"), enc_explicit(0, signed_data))


def _signed_ofd(pki: SesPki, form: str, *, raw_rs: bool = False) -> bytes:
    files = unzip(minimal_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>",
        b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>",
    )
    refs = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>'
        f"{base64.b64encode(sm3(data)).decode()}</ofd:CheckValue></ofd:Reference>"
        for name, data in files.items()
    )
    signature_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature '
        'xmlns:ofd="http://www.ofdspec.org/2016"><ofd:SignedInfo><ofd:References '
        f'CheckMethod="SM3">{refs}</ofd:References></ofd:SignedInfo>'
        "<ofd:SignedValue>SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    ).encode()
    files["Doc_0/Signs/Signatures.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures '
        b'xmlns:ofd="http://www.ofdspec.org/2016"><ofd:MaxSignId>1</ofd:MaxSignId>'
        b'<ofd:Signature ID="1" Type="Sign" BaseLoc="Sign_0/Signature.xml"/></ofd:Signatures>'
    )
    files["Doc_0/Signs/Sign_0/Signature.xml"] = signature_xml
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = _signed_data(
        pki, signature_xml, form, raw_rs=raw_rs
    )
    return zip_files(files)


@pytest.mark.parametrize("form", ["A", "B"])
def test_sign_type_ofd_verifies(pki: SesPki, form: str) -> None:
    result = verify_ofd(_signed_ofd(pki, form), trust=AnchorListEvaluator([pki.root.cert]), now=NOW)
    (sig,) = result.signatures
    assert sig.kind == "sign"
    assert f"cms.form_{form}" in sig.non_conformities
    assert sig.signer_signature.status is CheckStatus.PASS
    assert sig.document_hash.status is CheckStatus.PASS
    assert sig.ofd_references.status is CheckStatus.PASS
    assert sig.seal_signature.status is CheckStatus.NOT_CHECKED
    assert sig.verdict is Verdict.VALID, sig.to_dict()
    assert result.verdict is Verdict.VALID
    if form == "A":
        assert (sig.signing_time, sig.time_basis) == (SIGNING_TIME, "signing_time_attribute")


def test_sign_type_raw_rs_is_accepted_and_flagged(pki: SesPki) -> None:
    (sig,) = verify_ofd(
        _signed_ofd(pki, "A", raw_rs=True), trust=AnchorListEvaluator([pki.root.cert]), now=NOW
    ).signatures
    assert sig.signer_signature.get("encoding") == "raw"
    assert "cms.signature_raw_rs" in sig.non_conformities


def test_sign_type_modified_signature_xml_fails_the_document_hash(pki: SesPki) -> None:
    data = _signed_data(pki, b"<original/>", "A")
    result = verify_signed_data(
        data, original=b"<changed/>", trust=AnchorListEvaluator([pki.root.cert]), now=NOW
    )
    assert (result.verdict, result.reason) == (Verdict.INVALID, "document.hash_mismatch")
    assert result.signer_signature.status is CheckStatus.PASS


def test_sign_type_document_modified(pki: SesPki) -> None:
    files = unzip(_signed_ofd(pki, "B"))
    files["Doc_0/PublicRes.xml"] += b" "
    result = verify_ofd(zip_files(files), trust=AnchorListEvaluator([pki.root.cert]), now=NOW)
    assert (result.verdict, result.reason) == (Verdict.INVALID, "document_modified")


def test_truncated_signed_data_is_a_format_failure(pki: SesPki) -> None:
    data = _signed_data(pki, b"<x/>", "A")
    for cut in range(0, len(data), 37):
        result = verify_signed_data(
            data[:cut], original=b"<x/>", trust=AnchorListEvaluator([pki.root.cert]), now=NOW
        )
        assert result.verdict is Verdict.INVALID
