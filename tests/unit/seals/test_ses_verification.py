"""seals.verification on the shared samples (outcomes as their READMEs state) and on produced
objects: time policy, trust evaluators, timestamps, fail-closed verdicts, JSON output."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from seals.der_build import enc_bits, enc_explicit, enc_octets, enc_oid, enc_seq
from seals.ses_build import encode_seal_info_v4, make_ses_signature_v4
from seals.verification import (
    AnchorListEvaluator,
    CertPurpose,
    CheckStatus,
    NoTrustAnchors,
    TimestampOutcome,
    TimestampStatus,
    TrustStatus,
    Verdict,
    verify_seal,
    verify_ses_signature,
)
from tests.unit.seals._ses_support import (
    NOW,
    SesPki,
    make_pki,
    make_test_seal,
    pem_to_der,
    sample,
    seal_spec,
    unzip,
    vector,
)
from trust.crypto.hashing import sm3

NO_TRUST = NoTrustAnchors()


def _status(result: object, name: str) -> tuple[str, str]:
    check = getattr(result, name)
    return check.status.value, check.reason


def test_tax_invoice_signature_at_signing_time_and_now() -> None:
    files = unzip(sample("easyofd", "vat_special_einvoice5.ofd"))
    result = verify_ses_signature(
        files["Doc_0/Signs/Sign_0/SignedValue.dat"],
        original=files["Doc_0/Signs/Sign_0/Signature.xml"],
        trust=NO_TRUST,
        now=NOW,
    )
    assert result.verdict is Verdict.INDETERMINATE
    assert result.reason == "trust.no_anchors_configured"
    assert result.signing_time == datetime(2022, 5, 5, 1, 40, 17, tzinfo=UTC)
    assert result.time_basis == "time_info"
    assert result.signer_organisation == "国家税务总局贵州省税务局"
    assert (result.seal_name, result.seal_type, result.es_id) == (
        "国家税务总局贵州省税务局",
        3,
        "52010300000001",
    )
    for name in (
        "format",
        "signer_signature",
        "signer_cert_in_seal",
        "seal_signature",
        "document_hash",
    ):
        assert _status(result, name) == ("pass", "ok"), name
    # valid at the signing time, expired now: reported distinctly, not as a failure
    assert _status(result, "maker_cert_valid") == ("pass", "cert.valid_at_signing_time_expired_now")
    assert _status(result, "seal_valid_at_signing_time") == (
        "pass",
        "seal.valid_at_signing_time_expired_now",
    )
    assert _status(result, "signer_cert_valid_at_signing_time")[0] == "pass"
    assert _status(result, "signer_cert_trusted") == ("cannot_check", "trust.no_anchors_configured")
    assert _status(result, "timestamp") == ("not_checked", "timestamp.absent")
    out = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert out["verdict"] == "INDETERMINATE"
    assert out["checks"]["signer_signature"]["info"]["encoding"] == "der"


def test_tax_invoice_issuer_unknown_is_not_invalid() -> None:
    files = unzip(sample("easyofd", "vat_special_einvoice5.ofd"))
    unrelated = AnchorListEvaluator([pem_to_der(vector("openssl_sm2_chain", "root.pem"))])
    result = verify_ses_signature(
        files["Doc_0/Signs/Sign_0/SignedValue.dat"],
        original=files["Doc_0/Signs/Sign_0/Signature.xml"],
        trust=unrelated,
        now=NOW,
    )
    assert result.verdict is Verdict.INDETERMINATE
    assert _status(result, "signer_cert_trusted") == ("cannot_check", "trust.issuer_unknown")


def test_esl_demo_seal_raw_rs_is_accepted_and_flagged() -> None:
    result = verify_seal(sample("esl-demo", "Seal.esl"), trust=NO_TRUST, at=None, now=NOW)
    assert result.seal_signature.status is CheckStatus.PASS
    assert result.seal_signature.get("encoding") == "raw"
    assert "seal.maker_signature_raw_rs" in result.non_conformities
    assert "seal.maker_cert_eku_timestamping_only" in result.non_conformities
    # createDate lies inside the maker certificate validity
    assert _status(result, "maker_cert_valid") == ("pass", "cert.valid_at_create_date")
    assert result.time_basis == "create_date"
    # the seal validity ended 2026-11-21: expired now
    assert _status(result, "seal_valid") == ("pass", "seal.valid_at_create_date_expired_now")
    assert result.verdict is Verdict.INDETERMINATE


@pytest.mark.parametrize("name", ["UserV1.esl", "UserV4.esl"])
def test_ofdrw_v1_v4_seals_verify_but_trust_is_not_established(name: str) -> None:
    result = verify_seal(sample("ofdrw", "gm", name), trust=NO_TRUST, at=None)
    assert _status(result, "seal_signature") == ("pass", "ok")
    assert _status(result, "maker_cert_valid") == ("pass", "cert.valid_at_create_date")
    assert result.verdict is Verdict.INDETERMINATE


def test_ofdrw_v5_seal_fails_the_2025_time_rules() -> None:
    result = verify_seal(sample("ofdrw", "gm", "UserV5.esl"), trust=NO_TRUST, at=None)
    assert _status(result, "seal_signature") == ("pass", "ok")
    assert _status(result, "maker_cert_valid") == ("fail", "cert.expired_at_create_date")
    assert "seal.listed_signer_certs_expired_before_valid_start" in result.non_conformities
    assert result.verdict is Verdict.INVALID
    assert result.reason == "cert.expired_at_create_date"


def test_signed_value_v4_document_hash_is_reported_separately() -> None:
    data = sample("ofdrw", "gm", "SignedValueV4.dat")
    without = verify_ses_signature(data, original=None, trust=NO_TRUST, now=NOW)
    assert _status(without, "document_hash") == ("not_checked", "document.no_original")
    assert without.verdict is Verdict.INDETERMINATE
    with_original = verify_ses_signature(data, original=b"<any/>", trust=NO_TRUST, now=NOW)
    assert _status(with_original, "document_hash") == ("fail", "document.hash_mismatch")
    assert with_original.verdict is Verdict.INVALID
    assert with_original.reason == "document.hash_mismatch"
    for result in (without, with_original):  # the signatures themselves are intact
        for name in ("signer_signature", "seal_signature", "signer_cert_in_seal"):
            assert _status(result, name) == ("pass", "ok")
        assert _status(result, "signer_cert_valid_at_signing_time")[0] == "pass"
        assert _status(result, "seal_valid_at_signing_time")[0] == "pass"


def test_ofdrw_root_lacks_key_cert_sign_so_a_strict_evaluator_rejects_it() -> None:
    root = pem_to_der(sample("ofdrw", "gm", "ROOT.crt.pem"))
    strict = AnchorListEvaluator([root])
    outcome = strict.evaluate(
        pem_to_der(sample("ofdrw", "gm", "USER.crt.pem")),
        at=datetime(2020, 10, 12, tzinfo=UTC),
        purpose=CertPurpose.SEAL_SIGNER,
    )
    assert (outcome.status, outcome.reason) == (
        TrustStatus.INVALID,
        "trust.anchor_lacks_key_cert_sign",
    )
    result = verify_ses_signature(
        sample("ofdrw", "gm", "SignedValueV4.dat"), original=None, trust=strict, now=NOW
    )
    assert _status(result, "signer_cert_trusted") == ("fail", "trust.anchor_lacks_key_cert_sign")
    assert _status(result, "maker_cert_trusted") == ("fail", "trust.anchor_lacks_key_cert_sign")
    assert result.verdict is Verdict.INVALID


def test_openssl_chain_with_intermediate_is_trusted_when_valid() -> None:
    chain = AnchorListEvaluator(
        [pem_to_der(vector("openssl_sm2_chain", "root.pem"))],
        [pem_to_der(vector("openssl_sm2_chain", "subca.pem"))],
    )
    signer = pem_to_der(vector("openssl_sm2_chain", "signer.pem"))
    later = datetime(2027, 6, 1, tzinfo=UTC)
    outcome = chain.evaluate(signer, at=later, purpose=CertPurpose.SEAL_SIGNER)
    assert outcome.status is TrustStatus.TRUSTED, outcome
    assert len(outcome.chain_subjects) == 3
    early = chain.evaluate(
        signer, at=datetime(2026, 1, 1, tzinfo=UTC), purpose=CertPurpose.SEAL_SIGNER
    )
    assert early.reason == "trust.certificate_not_valid_at_time"
    no_sub = AnchorListEvaluator([pem_to_der(vector("openssl_sm2_chain", "root.pem"))])
    assert no_sub.evaluate(signer, at=later, purpose=CertPurpose.SEAL_SIGNER).status is (
        TrustStatus.NO_TRUSTED_ANCHOR
    )


def test_own_v4_sample_signer_cert_not_valid_at_signing_time_is_reported() -> None:
    result = verify_ses_signature(
        vector("own_v4_sample", "SignedValue.dat"),
        original=vector("own_v4_sample", "Signature.xml"),
        trust=NO_TRUST,
        now=NOW,
    )
    assert _status(result, "document_hash") == ("pass", "ok")
    assert _status(result, "signer_signature") == ("pass", "ok")
    assert _status(result, "seal_signature") == ("pass", "ok")
    assert _status(result, "signer_cert_in_seal") == ("pass", "ok")
    assert _status(result, "seal_valid_at_signing_time") == ("pass", "seal.valid_at_signing_time")
    assert _status(result, "signer_cert_valid_at_signing_time") == (
        "fail",
        "cert.not_yet_valid_at_signing_time",
    )
    assert _status(result, "maker_cert_valid") == ("fail", "cert.not_yet_valid_at_signing_time")
    assert result.verdict is Verdict.INVALID


def test_malformed_input_is_a_result_not_an_exception() -> None:
    result = verify_ses_signature(b"\x30\x03\x02\x01", original=None, trust=NO_TRUST, now=NOW)
    assert (result.verdict, result.reason) == (Verdict.INVALID, "seal.malformed_der")
    assert result.to_dict()["verdict"] == "INVALID"
    seal = verify_seal(b"not der", trust=NO_TRUST, at=None)
    assert seal.verdict is Verdict.INVALID
    assert seal.format.status is CheckStatus.FAIL


# ---------------------------------------------------------------- produced objects, timestamps


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


class _FakeTsa:
    """A TimestampVerifier stand-in: the token is b"TS" + SM3(covered), genTime fixed."""

    def __init__(self, time: datetime) -> None:
        self.time = time

    def verify(self, token: bytes, *, covered: bytes) -> TimestampOutcome:
        if token != b"TS" + sm3(covered):
            return TimestampOutcome(TimestampStatus.INVALID, "timestamp.imprint_mismatch")
        return TimestampOutcome(TimestampStatus.VALID, "ok", self.time)


def _timestamped(pki: SesPki, token: bytes | None = None) -> bytes:
    return make_ses_signature_v4(
        seal_der=make_test_seal(pki),
        signer_cert=pki.signer.cert,
        time_info=datetime(2026, 6, 1, tzinfo=UTC),
        data_hash=sm3(b"doc"),
        property_info="/doc",
        sign=pki.signer.sign,
        timestamp=lambda sig: token or b"TS" + sm3(sig),
    )


def test_timestamp_time_is_the_signing_time_when_verified(pki: SesPki) -> None:
    tsa_time = datetime(2026, 6, 1, 0, 0, 5, tzinfo=UTC)
    anchors = AnchorListEvaluator([pki.root.cert])
    result = verify_ses_signature(
        _timestamped(pki), original=b"doc", trust=anchors, now=NOW, timestamps=_FakeTsa(tsa_time)
    )
    assert (result.signing_time, result.time_basis) == (tsa_time, "timestamp")
    assert result.timestamp.status is CheckStatus.PASS
    assert result.verdict is Verdict.VALID, result.to_dict()
    no_verifier = verify_ses_signature(_timestamped(pki), original=b"doc", trust=anchors, now=NOW)
    assert _status(no_verifier, "timestamp") == ("cannot_check", "timestamp.no_verifier")
    assert no_verifier.time_basis == "time_info"
    assert no_verifier.verdict is Verdict.INDETERMINATE
    bad = verify_ses_signature(
        _timestamped(pki, b"TSbad"),
        original=b"doc",
        trust=anchors,
        now=NOW,
        timestamps=_FakeTsa(tsa_time),
    )
    assert _status(bad, "timestamp") == ("fail", "timestamp.imprint_mismatch")
    assert bad.verdict is Verdict.INVALID


def _v5_seal(pki: SesPki, token: bytes | None) -> bytes:
    info = encode_seal_info_v4(seal_spec(pki))
    info = info.replace(b"\x16\x02ES\x02\x01\x04", b"\x16\x02ES\x02\x01\x05", 1)
    parts = [
        info,
        enc_octets(pki.maker.cert),
        enc_oid("1.2.156.10197.1.501"),
        enc_bits(pki.maker.sign(info)),
    ]
    if token is not None:
        parts.append(enc_explicit(0, enc_bits(token)))
    return enc_seq(*parts)


def test_v5_seal_timestamp_must_not_precede_create_date(pki: SesPki) -> None:
    anchors = AnchorListEvaluator([pki.root.cert])
    plain = verify_seal(_v5_seal(pki, None), trust=anchors, at=None)
    assert plain.version == 5
    assert plain.verdict is Verdict.VALID, plain.to_dict()
    from seals.ses import parse_seal

    seal = _v5_seal(pki, b"placeholder")  # SM2 signatures are randomised: read back the value
    covered = parse_seal(seal).signed_value
    good = _v5_seal_with(pki, seal, b"TS" + sm3(covered))
    ok = verify_seal(
        good, trust=anchors, at=None, timestamps=_FakeTsa(datetime(2026, 1, 2, tzinfo=UTC))
    )
    assert ok.timestamp.status is CheckStatus.PASS
    assert ok.verdict is Verdict.VALID
    early = verify_seal(
        good, trust=anchors, at=None, timestamps=_FakeTsa(datetime(2025, 12, 31, tzinfo=UTC))
    )
    assert _status(early, "timestamp") == ("fail", "timestamp.before_create_date")


def _v5_seal_with(pki: SesPki, seal: bytes, token: bytes) -> bytes:
    from seals.der import parse as der_parse

    root = der_parse(seal).root
    return enc_seq(*(c.raw for c in root.children[:4]), enc_explicit(0, enc_bits(token)))


def test_signer_cert_not_in_seal_fails(pki: SesPki) -> None:
    other = make_pki()
    der = make_ses_signature_v4(
        seal_der=make_test_seal(pki),
        signer_cert=other.signer.cert,
        time_info=datetime(2026, 6, 1, tzinfo=UTC),
        data_hash=sm3(b"doc"),
        property_info="/doc",
        sign=other.signer.sign,
    )
    result = verify_ses_signature(der, original=b"doc", trust=NO_TRUST, now=NOW)
    assert _status(result, "signer_cert_in_seal") == ("fail", "seal.signer_cert_not_in_seal")
    assert result.verdict is Verdict.INVALID


def test_signing_outside_seal_validity_fails(pki: SesPki) -> None:
    der = make_ses_signature_v4(
        seal_der=make_test_seal(pki),
        signer_cert=pki.signer.cert,
        time_info=datetime(2029, 6, 1, tzinfo=UTC),
        data_hash=sm3(b"doc"),
        property_info="/doc",
        sign=pki.signer.sign,
    )
    result = verify_ses_signature(der, original=b"doc", trust=NO_TRUST, now=NOW)
    assert _status(result, "seal_valid_at_signing_time") == ("fail", "seal.expired_at_signing_time")
