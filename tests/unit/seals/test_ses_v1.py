"""GM/T 0031-2014 (v1) seal signatures: no real v1 SES_Signature sample is available, so one is
built here from the §3.1 ASN.1 with the test PKI and verified end to end (text timeInfo in a BIT
STRING, the v1 seal signing rule, signer cert and algorithm inside TBS_Sign)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
from seals.verification import AnchorListEvaluator, Verdict, verify_ses_signature
from tests.unit.seals._ses_support import NOW, PNG_1X1, SesPki, make_pki
from trust.crypto.hashing import sm3

SM2_SM3 = "1.2.156.10197.1.501"
ORIGINAL = b"<v1 original/>"


def _utc(value: datetime) -> bytes:
    return enc_tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())


def _v1_seal(pki: SesPki) -> bytes:
    info = enc_seq(
        enc_seq(enc_ia5("ES"), enc_integer(1), enc_ia5("V1TEST")),
        enc_ia5("V1-ESID-1"),
        enc_seq(
            enc_integer(2),
            enc_utf8("个人印章"),
            enc_seq(enc_octets(pki.signer.cert)),
            _utc(datetime(2026, 1, 1, tzinfo=UTC)),
            _utc(datetime(2026, 1, 1, tzinfo=UTC)),
            _utc(datetime(2027, 1, 1, tzinfo=UTC)),
        ),
        enc_seq(enc_ia5("PNG"), enc_octets(PNG_1X1), enc_integer(20), enc_integer(20)),
    )
    cert, alg = enc_octets(pki.maker.cert), enc_oid(SM2_SM3)
    signature = pki.maker.sign(enc_seq(info, cert, alg))  # §3.5 v1 rule
    return enc_seq(info, enc_seq(cert, alg, enc_bits(signature)))


def _v1_signature(pki: SesPki, time_text: bytes) -> bytes:
    tbs = enc_seq(
        enc_integer(1),
        _v1_seal(pki),
        enc_bits(time_text),
        enc_bits(sm3(ORIGINAL)),
        enc_ia5("/Doc_0/Signs/Sign_0/Signature.xml"),
        enc_octets(pki.signer.cert),
        enc_oid(SM2_SM3),
    )
    return enc_seq(tbs, enc_bits(pki.signer.sign(tbs)))


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


@pytest.mark.parametrize(
    ("text", "expected", "note"),
    [
        (
            b"2026-03-01 17:30:00",
            datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "seal.v1_time_info_text_no_zone",
        ),  # read as Beijing time [recon]
        (
            b"2026-03-01T09:30:00.377Z",
            datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "seal.v1_time_info_text",
        ),
        (
            b"\x18\x0f20260301093000Z",
            datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "seal.v1_time_info_der_time",
        ),
    ],
)
def test_v1_signature_verifies_with_text_time_info(
    pki: SesPki, text: bytes, expected: datetime, note: str
) -> None:
    der = _v1_signature(pki, text)
    sig = parse_ses_signature(der)
    assert sig.version is SealVersion.V1
    assert sig.seal.version is SealVersion.V1
    assert sig.time_info == expected
    assert note in sig.findings
    result = verify_ses_signature(
        der, original=ORIGINAL, trust=AnchorListEvaluator([pki.root.cert]), now=NOW
    )
    assert result.verdict is Verdict.VALID, result.to_dict()
    assert result.version == 1


def test_v1_seal_signature_over_seal_info_alone_is_rejected(pki: SesPki) -> None:
    seal = parse_seal(_v1_seal(pki))
    assert seal.signed_bytes != seal.seal_info_raw
    info, cert, alg = seal.seal_info_raw, enc_octets(seal.maker_cert), enc_oid(SM2_SM3)
    assert seal.signed_bytes == enc_seq(info, cert, alg)


def test_unreadable_v1_time_cannot_be_judged(pki: SesPki) -> None:
    result = verify_ses_signature(
        _v1_signature(pki, b"yesterday"),
        original=ORIGINAL,
        trust=AnchorListEvaluator([pki.root.cert]),
        now=NOW,
    )
    assert result.signing_time is None
    assert result.signer_cert_valid_at_signing_time.reason == "cert.time_unknown"
    assert result.verdict is Verdict.INDETERMINATE
