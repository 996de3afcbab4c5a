"""Real-world quirks of eseal spec §9 that had no test of their own, rebuilt here with our own
builders and throw-away keys (no sample file is copied):

- the dms360 iOFD v1 producer: the signer's SM2 signature is made with e = dataHash directly
  (not over TBS_Sign), dataHash is not SM3(Signature.xml), CheckMethod is
  ``1.2.156.10197.1.401.2``: "report as non-conformant / invalid";
- a seal whose maker signature verifies under no known rule (a Hebei vendor's test seal):
  "invalid seal signature";
- certificates with UTF-8 bytes inside IA5String and ``x500UniqueIdentifier`` as UTF8String
  (provincial CAs): "parse names leniently; keep raw DER for comparisons".
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import pytest
from asn1crypto import keys

from seals.der_build import (
    enc_bits,
    enc_ia5,
    enc_integer,
    enc_octets,
    enc_oid,
    enc_seq,
    enc_tlv,
    enc_utf8,
)
from seals.ses import SealVersion, parse_seal, parse_ses_signature
from seals.ses_build import make_seal_v4, make_ses_signature_v4
from seals.verification import (
    AnchorListEvaluator,
    CheckStatus,
    Verdict,
    verify_ofd,
    verify_seal,
    verify_ses_signature,
)
from seals.x509 import parse_certificate
from tests.unit.crypto import _sm2_oracle as oracle
from tests.unit.seals._ses_support import (
    NOW,
    PNG_1X1,
    SesIdentity,
    SesPki,
    make_cert,
    make_pki,
    make_test_seal,
    minimal_ofd,
    seal_spec,
    unzip,
    zip_files,
)
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.hashing import sm3
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2
from trust.crypto.sm2 import (
    SignatureEncoding,
    decode_signature,
    encode_signature_der,
    sm2_verify,
)

NS = "http://www.ofdspec.org/2016"
SIGNED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ORIGINAL = b"<approval decision/>"
DMS360_CHECK_METHOD = "1.2.156.10197.1.401.2"


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


def _trust(pki: SesPki) -> AnchorListEvaluator:
    return AnchorListEvaluator([pki.root.cert])


# --------------------------------------------------------------------------- dms360 v1


def _d(key: SM2PrivateKey) -> int:
    info = keys.PrivateKeyInfo.load(key.to_pkcs8_der())
    return int(info["private_key"].parsed["private_key"].native)


def _sign_digest_directly(key: SM2PrivateKey, e: bytes) -> bytes:
    """SM2 with e = the given 32 bytes (no Z_A, no SM3 of a message): the dms360 way."""
    r, s = oracle.sign_with_k(_d(key), e, 1 + secrets.randbelow(oracle.N - 1))
    return encode_signature_der(r, s)


def _utc(value: datetime) -> bytes:
    return enc_tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())


def _v1_seal(pki: SesPki) -> bytes:
    """A correct GM/T 0031-2014 v1 seal (maker signature by the v1 rule, eseal spec §3.5)."""
    info = enc_seq(
        enc_seq(enc_ia5("ES"), enc_integer(1), enc_ia5("DMS360")),
        enc_ia5("DMS360-ESID-1"),
        enc_seq(
            enc_integer(1),
            enc_utf8("某某市行政审批局公章"),
            enc_seq(enc_octets(pki.signer.cert)),
            _utc(datetime(2026, 1, 1, tzinfo=UTC)),
            _utc(datetime(2026, 1, 1, tzinfo=UTC)),
            _utc(datetime(2028, 1, 1, tzinfo=UTC)),
        ),
        enc_seq(enc_ia5("PNG"), enc_octets(PNG_1X1), enc_integer(40), enc_integer(40)),
    )
    cert, alg = enc_octets(pki.maker.cert), enc_oid(OID_SM2_WITH_SM3)
    return enc_seq(info, enc_seq(cert, alg, enc_bits(pki.maker.sign(enc_seq(info, cert, alg)))))


def _dms360_signed_value(pki: SesPki, data_hash: bytes) -> bytes:
    tbs = enc_seq(
        enc_integer(1),
        _v1_seal(pki),
        enc_bits(SIGNED_AT.strftime("%Y-%m-%d %H:%M:%S").encode()),
        enc_bits(data_hash),
        enc_ia5("/Doc_0/Signs/Sign_0/Signature.xml"),
        enc_octets(pki.signer.cert),
        enc_oid(OID_SM2_WITH_SM3),
    )
    return enc_seq(tbs, enc_bits(_sign_digest_directly(pki.signer.key, data_hash)))


def _dms360_ofd(pki: SesPki, data_hash: bytes) -> tuple[bytes, bytes]:
    """A one-page OFD sealed the dms360 way, and its SignedValue.dat."""
    files = unzip(minimal_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>",
        b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>",
    )
    refs = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>'
        f"{base64.b64encode(sm3(data)).decode()}</ofd:CheckValue></ofd:Reference>"
        for name, data in sorted(files.items())
    )
    signature_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature xmlns:ofd="{NS}">'
        f'<ofd:SignedInfo><ofd:Provider ProviderName="dms360 iOFD" Version="1.0"/>'
        f"<ofd:SignatureMethod>{OID_SM2_WITH_SM3}</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>20260301093000Z</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="{DMS360_CHECK_METHOD}">{refs}</ofd:References>'
        f"</ofd:SignedInfo><ofd:SignedValue>/Doc_0/Signs/Sign_0/SignedValue.dat</ofd:SignedValue>"
        f"</ofd:Signature>"
    ).encode()
    signed_value = _dms360_signed_value(pki, data_hash)
    files["Doc_0/Signs/Sign_0/Signature.xml"] = signature_xml
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = signed_value
    files["Doc_0/Signs/Signatures.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures xmlns:ofd="{NS}">'
        f'<ofd:MaxSignId>1</ofd:MaxSignId><ofd:Signature ID="1" Type="Seal" '
        f'BaseLoc="/Doc_0/Signs/Sign_0/Signature.xml"/></ofd:Signatures>'
    ).encode()
    return zip_files(files), signed_value


def test_dms360_v1_signature_over_the_data_hash_is_reported_invalid(pki: SesPki) -> None:
    # Not SM3(Signature.xml): what the producer hashed is its own affair.
    data_hash = sm3(b"dms360: digest of the signed content")
    ofd, signed_value = _dms360_ofd(pki, data_hash)

    # The input really is the dms360 form: a good SM2 signature with e = dataHash ...
    sig = parse_ses_signature(signed_value)
    assert sig.version is SealVersion.V1
    assert sig.data_hash == data_hash
    r, s, _ = decode_signature(sig.signature)
    pub = pki.signer.key.public_key()
    assert oracle.verify_digest(pub.x, pub.y, data_hash, r, s)
    # ... which is not a signature over TBS_Sign (GB/T 32918.2 with Z_A).
    assert not oracle.verify(pub.x, pub.y, sig.tbs_raw, r, s, b"1234567812345678")

    result = verify_ofd(ofd, trust=_trust(pki), now=NOW)
    assert result.verdict is Verdict.INVALID
    (one,) = result.signatures
    assert one.verdict is Verdict.INVALID
    assert (one.signer_signature.status, one.signer_signature.reason) == (
        CheckStatus.FAIL,
        "signature.mismatch",
    )
    assert (one.document_hash.status, one.document_hash.reason) == (
        CheckStatus.FAIL,
        "document.hash_mismatch",
    )
    assert one.ofd_references.status is CheckStatus.FAIL
    assert one.ofd_references.reason == "ofd.reference_unsupported_method"
    # The broken signer signature is the reason, not "document modified": nothing was intact.
    assert one.reason == "signature.mismatch"
    assert result.reason == "signature.mismatch"
    # The embedded v1 seal itself is fine: the failure is attributed where it belongs.
    assert one.seal_signature.status is CheckStatus.PASS
    assert one.signer_cert_in_seal.status is CheckStatus.PASS


# --------------------------------------------------------------------------- no known rule


def test_maker_signature_under_no_known_rule_is_an_invalid_seal(pki: SesPki) -> None:
    """The maker signed SM3(SES_SealInfo) instead of SES_SealInfo: a valid SM2 signature by the
    maker's key, but over bytes that neither the v4 rule nor the v1 rule names."""
    signed_over: list[bytes] = []

    def wrong_rule(seal_info: bytes) -> bytes:
        signed_over.append(sm3(seal_info))
        return pki.maker.sign(sm3(seal_info))

    seal_der = make_seal_v4(seal_spec(pki), maker_cert=pki.maker.cert, sign=wrong_rule)
    seal = parse_seal(seal_der)
    maker_key = pki.maker.key.public_key()
    # Genuinely the maker's signature, over the digest ...
    assert sm2_verify(maker_key, signed_over[0], seal.signed_value) is SignatureEncoding.DER
    # ... and over no bytes a rule names: the v4 rule (eseal spec §3.5) is what is checked.
    assert seal.signed_bytes == seal.seal_info_raw

    alone = verify_seal(seal_der, trust=_trust(pki), at=SIGNED_AT, now=NOW)
    assert alone.verdict is Verdict.INVALID
    assert (alone.seal_signature.status, alone.reason) == (CheckStatus.FAIL, "signature.mismatch")
    assert alone.maker_cert_valid.status is CheckStatus.PASS  # the certificate is not the issue

    # A seal signature made with it, correct in itself, is invalid because of the seal.
    der = make_ses_signature_v4(
        seal_der=seal_der,
        signer_cert=pki.signer.cert,
        time_info=SIGNED_AT,
        data_hash=sm3(ORIGINAL),
        property_info="original.xml",
        sign=pki.signer.sign,
    )
    result = verify_ses_signature(der, original=ORIGINAL, trust=_trust(pki), now=NOW)
    assert result.verdict is Verdict.INVALID
    assert result.signer_signature.status is CheckStatus.PASS
    assert result.document_hash.status is CheckStatus.PASS
    assert (result.seal_signature.status, result.reason) == (
        CheckStatus.FAIL,
        "signature.mismatch",
    )
    # Control: the same seal signed by the v4 rule verifies.
    good = make_test_seal(pki)
    assert verify_seal(good, trust=_trust(pki), at=SIGNED_AT, now=NOW).verdict is Verdict.VALID


# --------------------------------------------------------------------------- lenient names


def _rdn(oid: str, value_tlv: bytes) -> bytes:
    return enc_tlv(0x31, enc_seq(enc_oid(oid), value_tlv))


IA5 = 0x16
PROVINCIAL_SUBJECT = enc_seq(
    _rdn("2.5.4.6", enc_tlv(0x13, b"CN")),
    # UTF-8 bytes inside IA5String (which is ASCII only by X.680): seen from provincial CAs.
    _rdn("2.5.4.10", enc_tlv(IA5, "某省政务服务中心".encode())),
    _rdn("2.5.4.11", enc_tlv(IA5, "政务".encode("gbk"))),  # not even UTF-8: shown as latin-1
    _rdn("2.5.4.3", enc_tlv(IA5, "张三（签章人）".encode())),
    _rdn("1.2.840.113549.1.9.1", enc_tlv(IA5, "签章@例子.中国".encode())),
    # x500UniqueIdentifier is a BIT STRING in X.520; here a UTF8String.
    _rdn("2.5.4.45", enc_utf8("91350100M000100Y43")),
)


def provincial_signer(pki: SesPki) -> SesIdentity:
    key = generate_sm2()
    cert = make_cert(
        cn="unused",
        org="unused",
        key=key,
        issuer=pki.root,
        serial=77,
        not_before=datetime(2025, 1, 1, tzinfo=UTC),
        not_after=datetime(2030, 1, 1, tzinfo=UTC),
        ca=False,
        usage=("digitalSignature", "nonRepudiation"),
        subject_der=PROVINCIAL_SUBJECT,
    )
    return SesIdentity(key, cert)


def test_utf8_bytes_in_ia5string_names_are_read_leniently(pki: SesPki) -> None:
    signer = provincial_signer(pki)
    cert = parse_certificate(signer.cert)
    subject = dict(cert.subject)
    assert subject["O"] == "某省政务服务中心"
    assert subject["CN"] == "张三（签章人）"
    assert subject["emailAddress"] == "签章@例子.中国"
    assert subject["x500UniqueIdentifier"] == "91350100M000100Y43"
    assert subject["OU"] == "政务".encode("gbk").decode("latin-1")
    assert cert.subject_der == PROVINCIAL_SUBJECT  # raw DER kept for comparisons

    seal_der = make_test_seal(pki, signer_certs=(signer.cert,))
    der = make_ses_signature_v4(
        seal_der=seal_der,
        signer_cert=signer.cert,
        time_info=SIGNED_AT,
        data_hash=sm3(ORIGINAL),
        property_info="original.xml",
        sign=signer.sign,
    )
    result = verify_ses_signature(der, original=ORIGINAL, trust=_trust(pki), now=NOW)
    assert result.verdict is Verdict.VALID, result.to_dict()
    assert result.signer_organisation == "某省政务服务中心"
    assert result.signer_subject is not None
    assert "CN=张三（签章人）" in result.signer_subject
    assert "emailAddress=签章@例子.中国" in result.signer_subject
    assert result.signer_cert_in_seal.status is CheckStatus.PASS  # byte-for-byte, not by name
    assert result.signer_cert_trusted.status is CheckStatus.PASS

    # A root of the same name but another key is not the issuer: the signature decides.
    other_root = make_pki().root
    assert parse_certificate(other_root.cert).subject_der == cert.issuer_der
    assert (
        verify_ses_signature(
            der, original=ORIGINAL, trust=AnchorListEvaluator([other_root.cert]), now=NOW
        ).signer_cert_trusted.status
        is not CheckStatus.PASS
    )
