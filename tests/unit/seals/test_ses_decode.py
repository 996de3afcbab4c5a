"""seals.ses: every shared sample decodes to the facts its README states; the signed bytes are
the §3.5 ones (checked by verifying the real signatures); quirks are flagged; unknown versions
are refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seals.der import parse as der_parse
from seals.der_build import (
    enc_bits,
    enc_explicit,
    enc_integer,
    enc_octets,
    enc_oid,
    enc_seq,
    enc_tlv,
)
from seals.errors import UnsupportedVersion
from seals.ses import (
    SealVersion,
    SignedValueKind,
    classify_signed_value,
    parse_seal,
    parse_ses_signature,
)
from tests.unit.seals._ses_support import pem_to_der, sample, unzip, vector
from trust.crypto.sm2 import InvalidSignature, SignatureEncoding, SM2PublicKey, sm2_verify


def _verify(cert: bytes, message: bytes, signature: bytes) -> SignatureEncoding:
    return sm2_verify(SM2PublicKey.from_certificate(cert), message, signature)


def test_user_v1_seal_and_the_v1_signing_rule() -> None:
    seal = parse_seal(sample("ofdrw", "gm", "UserV1.esl"))
    assert seal.version is SealVersion.V1
    assert (seal.vid, seal.es_id) == ("OFDR&WTest", "40C8CDD24DEF43388B86E62CCE1D6832")
    assert (seal.property.type, seal.property.name) == (1, "OFDRW测试用印章")
    assert seal.property.certs == (pem_to_der(sample("ofdrw", "gm", "USER.crt.pem")),)
    assert seal.property.create_date == datetime(2020, 4, 22, 2, 18, 7, tzinfo=UTC)
    assert seal.property.valid_end == datetime(2022, 4, 22, 2, 18, 7, tzinfo=UTC)
    assert seal.picture.data == sample("ofdrw", "gm", "StampImg.png")
    assert (seal.picture.type, seal.picture.width_mm, seal.picture.height_mm) == ("PNG", 40, 40)
    assert seal.maker_cert == pem_to_der(sample("ofdrw", "gm", "SealBuilder.crt.pem"))
    # §3.5: v1 signs SEQUENCE { SES_SealInfo, cert, signatureAlgorithm } built from raw TLVs ...
    assert seal.signed_bytes != seal.seal_info_raw
    assert _verify(seal.maker_cert, seal.signed_bytes, seal.signed_value) is SignatureEncoding.DER
    # ... and the same signature over SES_SealInfo alone fails (this proves the rule).
    with pytest.raises(InvalidSignature):
        _verify(seal.maker_cert, seal.seal_info_raw, seal.signed_value)


@pytest.mark.parametrize(
    ("name", "version", "es_id", "seal_type"),
    [
        ("UserV4.esl", SealVersion.V4, "51f044b76510434e9bc67a1185c2fba5", 3),
        ("UserV5.esl", SealVersion.V5, "09aaf39291e049e4b3d716414590937e", 3),
    ],
)
def test_user_v4_v5_seals_sign_the_raw_seal_info(
    name: str, version: SealVersion, es_id: str, seal_type: int
) -> None:
    data = sample("ofdrw", "gm", name)
    seal = parse_seal(data)
    assert (seal.version, seal.es_id, seal.property.type) == (version, es_id, seal_type)
    assert seal.raw == data
    assert seal.signed_bytes == seal.seal_info_raw
    assert data.find(seal.seal_info_raw) == 4  # an exact slice of the file
    assert seal.property.cert_list_type == 1
    assert seal.timestamp is None  # the v5 sample has 4 top-level elements
    assert _verify(seal.maker_cert, seal.signed_bytes, seal.signed_value) is SignatureEncoding.DER


def test_esl_demo_seal_raw_rs_maker_signature_and_vendor_extensions() -> None:
    seal = parse_seal(sample("esl-demo", "Seal.esl"))
    assert (seal.version, seal.vid, seal.es_id) == (4, "koal", "4BE82F99E883422BA674E442CE584579")
    assert seal.property.name == "96a69f53-65a9-4a09-89d7-54a626a4ba4f"
    assert [e.oid for e in seal.extensions] == [f"2.16.156.514556.40{i}" for i in (2, 3, 5, 4, 1)]
    assert not any(e.critical for e in seal.extensions)
    assert seal.format_errors == ()
    assert len(seal.signed_value) == 64
    assert _verify(seal.maker_cert, seal.signed_bytes, seal.signed_value) is SignatureEncoding.RAW
    # the vendor writes critical FALSE explicitly (a DEFAULT value: X.690 §11.5)
    assert any(f.startswith("der.default_value_encoded@") for f in seal.findings)


def test_tax_invoice_signature_slices_equal_the_vectors() -> None:
    files = unzip(sample("easyofd", "vat_special_einvoice5.ofd"))
    sig = parse_ses_signature(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    assert sig.version is SealVersion.V4
    assert sig.tbs_raw == vector("gz_tax_invoice_2022", "tbs_sign.der")
    assert sig.seal.seal_info_raw == vector("gz_tax_invoice_2022", "seal_info.der")
    assert sig.seal.maker_cert == vector("gz_tax_invoice_2022", "maker_cert.der")
    assert sig.signer_cert == vector("gz_tax_invoice_2022", "signer_cert.der")
    assert sig.data_hash.hex() == (
        "d4c6a3d1aebe8f527f8c897e7b677e921a9643b91b1683af532a32121e5010c3"
    )
    assert sig.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert sig.time_info == datetime(2022, 5, 5, 1, 40, 17, tzinfo=UTC)
    seal = sig.seal
    assert (seal.vid, seal.es_id, seal.property.type) == ("GOMAIN", "52010300000001", 3)
    assert seal.property.name == "国家税务总局贵州省税务局"
    assert (seal.picture.type, seal.picture.width_mm, seal.picture.height_mm) == ("ofd", 30, 20)
    assert [e.oid for e in seal.extensions] == ["1.2.156.10197.6.7.2.2.1"]
    assert "seal.picture_type_not_uppercase" in sig.findings
    # canonical at the encoding level: no length/integer/boolean findings
    assert not [
        f
        for f in sig.findings
        if f.split("@")[0]
        in ("der.non_minimal_length", "der.non_minimal_integer", "der.boolean_not_00_ff")
    ]
    assert _verify(sig.signer_cert, sig.tbs_raw, sig.signature) is SignatureEncoding.DER
    assert _verify(seal.maker_cert, seal.signed_bytes, seal.signed_value) is SignatureEncoding.DER


def test_ofdrw_signed_value_v4_embeds_user_v4_byte_for_byte() -> None:
    sig = parse_ses_signature(sample("ofdrw", "gm", "SignedValueV4.dat"))
    assert sig.seal.raw == sample("ofdrw", "gm", "UserV4.esl")
    assert sig.data_hash == bytes(32)
    assert sig.time_info == datetime(2020, 10, 12, 11, 14, 3, tzinfo=UTC)
    user = pem_to_der(sample("ofdrw", "gm", "USER.crt.pem"))
    maker = pem_to_der(sample("ofdrw", "gm", "SealBuilder.crt.pem"))
    assert sig.signer_cert == user
    assert _verify(user, sig.tbs_raw, sig.signature)
    with pytest.raises(InvalidSignature):
        _verify(maker, sig.tbs_raw, sig.signature)


def test_own_v4_sample_slices_equal_the_vectors() -> None:
    sig = parse_ses_signature(vector("own_v4_sample", "SignedValue.dat"))
    assert sig.tbs_raw == vector("own_v4_sample", "tbs_sign.der")
    assert sig.signature == vector("own_v4_sample", "signature.der")
    assert sig.seal.raw == vector("own_v4_sample", "Seal.esl")
    assert sig.seal.seal_info_raw == vector("own_v4_sample", "seal_info.der")
    assert sig.seal.signed_value == vector("own_v4_sample", "seal_sig.der")


def _swap(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def test_unknown_versions_are_refused_clearly() -> None:
    v4 = sample("ofdrw", "gm", "UserV4.esl")
    header = bytes.fromhex("160245530201")  # IA5 "ES", INTEGER len 1
    v3 = _swap(v4, header + b"\x04", header + b"\x03")
    with pytest.raises(UnsupportedVersion) as info:
        parse_seal(v3)
    assert info.value.code == "seal.unsupported_version"
    seq = der_parse(v4).root
    three = enc_seq(*(c.raw for c in seq.children[:3]))
    with pytest.raises(UnsupportedVersion):
        parse_seal(three)
    sig = sample("ofdrw", "gm", "SignedValueV4.dat")
    tbs_v7 = _swap(sig, bytes.fromhex("308242cd020104"), bytes.fromhex("308242cd020107"))
    with pytest.raises(UnsupportedVersion):
        parse_ses_signature(tbs_v7)


def _rebuild_signature(extra_tbs: bytes, trailer: bytes) -> bytes:
    """SignedValueV4 with an element appended to TBS_Sign and a trailing timeStamp field."""
    root = der_parse(sample("ofdrw", "gm", "SignedValueV4.dat")).root
    tbs = root.children[0]
    new_tbs = enc_seq(*(c.raw for c in tbs.children), extra_tbs)
    return enc_seq(new_tbs, *(c.raw for c in root.children[1:]), trailer)


def _ext_datas(critical: bool) -> bytes:
    flag = b"\x01\x01\xff" if critical else b""
    return enc_seq(enc_seq(enc_oid("1.2.3.4"), flag, enc_octets(b"x")))


def test_explicit_and_implicit_tags_for_extdatas_and_timestamp() -> None:
    token = b"\x30\x03\x02\x01\x01"
    explicit = parse_ses_signature(
        _rebuild_signature(enc_explicit(0, _ext_datas(False)), enc_explicit(0, enc_bits(token)))
    )
    assert explicit.timestamp == token
    assert [e.oid for e in explicit.extensions] == ["1.2.3.4"]
    assert "seal.tbs_extdatas_explicit_tag" in explicit.findings
    implicit = parse_ses_signature(
        _rebuild_signature(
            enc_tlv(0xA0, der_parse(_ext_datas(False)).root.content), enc_tlv(0x80, b"\x00" + token)
        )
    )
    assert implicit.timestamp == token
    assert [e.oid for e in implicit.extensions] == ["1.2.3.4"]
    assert "seal.tbs_extdatas_implicit_tag" in implicit.findings
    assert "seal.signature_timestamp_implicit_tag" in implicit.findings


def test_critical_unknown_extension_is_a_format_error() -> None:
    sig = parse_ses_signature(
        _rebuild_signature(
            enc_explicit(0, _ext_datas(True)), enc_explicit(0, enc_bits(b"\x05\x00"))
        )
    )
    assert sig.format_errors == ("seal.unknown_critical_extension:1.2.3.4",)


def test_printable_string_name_and_lowercase_picture_type_are_flagged() -> None:
    v4 = sample("ofdrw", "gm", "UserV4.esl")
    name = "OFD R&W 测试用印章".encode()
    # UTF8String → PrintableString (the Go generator's quirk) on an ASCII name of equal length
    patched = _swap(
        v4, b"\x0c" + bytes([len(name)]) + name, b"\x13" + bytes([len(name)]) + b"A" * len(name)
    )
    patched = _swap(patched, b"\x16\x03PNG", b"\x16\x03png")
    seal = parse_seal(patched)
    assert seal.property.name == "A" * len(name)
    assert "seal.name_not_utf8string" in seal.findings
    assert "seal.picture_type_not_uppercase" in seal.findings


def test_classify_signed_value() -> None:
    assert classify_signed_value(sample("ofdrw", "gm", "SignedValueV4.dat")) is SignedValueKind.SES
    assert classify_signed_value(vector("openssl_sm2_chain", "msg.sig")) is (
        SignedValueKind.PLAIN_SM2
    )
    cms = enc_seq(enc_oid("1.2.156.10197.6.1.4.2.2"), enc_explicit(0, enc_seq(enc_integer(1))))
    assert classify_signed_value(cms) is SignedValueKind.CMS


def test_critical_unknown_extension_fails_the_format_check() -> None:
    from seals.verification import NoTrustAnchors, Verdict, verify_ses_signature

    data = _rebuild_signature(enc_explicit(0, _ext_datas(True)), enc_explicit(0, enc_bits(b"")))
    result = verify_ses_signature(data, original=None, trust=NoTrustAnchors(), now=None)
    assert result.format.status.value == "fail"
    assert (result.verdict, result.reason) == (Verdict.INVALID, "format.non_conformant")
    assert "seal.unknown_critical_extension:1.2.3.4" in result.format.detail
