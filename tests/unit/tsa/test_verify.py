"""Time-stamp tokens (RFC 3161 with SM2/SM3 in GB/T 35275 SignedData): what ``timestamp`` makes,
``verify_timestamp_token`` accepts; each defect fails its own check."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from asn1crypto import cms, tsp

from tests.unit.ca._support import make_cert
from tests.unit.tsa._support import AT, POLICY, TsaFixture, make_tsa
from trust.ca.crl import CrlRevocationSource, RevokedEntry, assemble_crl, build_tbs_crl
from trust.ca.path import PathOutcome
from trust.ca.profiles import Profile, spec_for
from trust.ca.x509 import parse_certificate
from trust.clock import FixedClock
from trust.crypto import sha256, sm3
from trust.errors import InvalidInput
from trust.tsa.errors import TsaBadAlg, TsaUnavailable
from trust.tsa.service import respond, timestamp
from trust.tsa.tsp import TimeStampRespWithOptionalToken, build_token, build_tst_info
from trust.tsa.verify import verify_timestamp_token

SM3_OID = "1.2.156.10197.1.401"
SHA256_OID = "2.16.840.1.101.3.4.2.1"
DATA = b"archive package manifest"


@pytest.fixture(scope="module")
def pki() -> TsaFixture:
    return make_tsa()


def _token(pki: TsaFixture, data: bytes = DATA, **kw: object) -> bytes:
    args: dict[str, object] = {
        "clock": FixedClock(AT + timedelta(hours=1)),
        "signer": pki.tsa.signer,
        "digest_algorithm_oid": SM3_OID,
        "digest": sm3(data),
        "policy_oid": POLICY,
    }
    args.update(kw)
    return timestamp(**args)  # type: ignore[arg-type]


def test_token_structure_uses_the_gbt35275_oids(pki: TsaFixture) -> None:
    token = cms.ContentInfo.load(_token(pki, nonce=99))
    assert token["content_type"].dotted == "1.2.156.10197.6.1.4.2.2"
    sd = token["content"]
    assert sd["version"].native == "v3"
    assert [a["algorithm"].dotted for a in sd["digest_algorithms"]] == [SM3_OID]
    assert sd["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    si = sd["signer_infos"][0]
    assert si["digest_algorithm"]["algorithm"].dotted == SM3_OID
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.301.1"
    attrs = {a["type"].dotted: a["values"][0] for a in si["signed_attrs"]}
    assert set(attrs) == {
        "1.2.840.113549.1.9.3",  # contentType
        "1.2.840.113549.1.9.4",  # messageDigest
        "1.2.840.113549.1.9.16.2.47",  # signingCertificateV2
    }
    ess = attrs["1.2.840.113549.1.9.16.2.47"]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].dotted == SM3_OID
    assert ess["cert_hash"].native == sm3(pki.tsa.der)
    # Certificates: the TSA and the issuing CA, not the root.
    assert {c.chosen.dump() for c in sd["certificates"]} == {pki.tsa.der, pki.issuing.der}
    tst = tsp.TSTInfo.load(sd["encap_content_info"]["content"].contents)
    assert tst["version"].native == "v1"
    assert tst["policy"].dotted == POLICY
    assert tst["nonce"].native == 99
    assert tst["gen_time"].native == AT + timedelta(hours=1)
    assert tst["accuracy"]["seconds"].native == 1
    assert tst["message_imprint"]["hashed_message"].native == sm3(DATA)
    assert tst["serial_number"].native.bit_length() > 64
    assert tst["tsa"].chosen == parse_certificate(pki.tsa.der).subject_name


def test_valid_token_verifies(pki: TsaFixture) -> None:
    result = verify_timestamp_token(
        _token(pki, nonce=7), data=DATA, nonce=7, trust_anchors_der=[pki.root.der]
    )
    assert result.valid, result.checks
    assert result.reason is None
    assert [c.name for c in result.checks] == [
        "format",
        "imprint",
        "nonce",
        "signer_certificate",
        "content_type",
        "message_digest",
        "signature",
        "tsa_eku",
        "time",
        "chain",
    ]
    assert result.gen_time == AT + timedelta(hours=1)
    assert result.policy_oid == POLICY
    assert result.tsa_certificate == pki.tsa.der
    assert result.chain is not None
    assert result.chain.valid


def test_imprint_fails_for_other_data(pki: TsaFixture) -> None:
    result = verify_timestamp_token(
        _token(pki), data=b"other data", trust_anchors_der=[pki.root.der]
    )
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "imprint_mismatch"
    assert [c.name for c in result.checks if not c.ok] == ["imprint"]


def test_digest_instead_of_data(pki: TsaFixture) -> None:
    token = _token(pki, digest_algorithm_oid=SHA256_OID, digest=sha256(DATA))
    ok = verify_timestamp_token(
        token,
        digest=sha256(DATA),
        digest_algorithm_oid=SHA256_OID,
        trust_anchors_der=[pki.root.der],
    )
    assert ok.valid
    assert verify_timestamp_token(token, data=DATA, trust_anchors_der=[pki.root.der]).valid
    wrong_alg = verify_timestamp_token(
        token, digest=sha256(DATA), digest_algorithm_oid=SM3_OID, trust_anchors_der=[pki.root.der]
    )
    assert wrong_alg.reason == "imprint_algorithm_mismatch"


def test_arguments_are_checked(pki: TsaFixture) -> None:
    with pytest.raises(InvalidInput):
        verify_timestamp_token(_token(pki), trust_anchors_der=[pki.root.der])
    with pytest.raises(InvalidInput):
        verify_timestamp_token(_token(pki), data=DATA, digest=sm3(DATA), trust_anchors_der=[])


def test_nonce_mismatch(pki: TsaFixture) -> None:
    result = verify_timestamp_token(
        _token(pki, nonce=1), data=DATA, nonce=2, trust_anchors_der=[pki.root.der]
    )
    assert result.reason == "nonce_mismatch"


def test_unknown_anchor_is_indeterminate(pki: TsaFixture) -> None:
    other = make_tsa()
    result = verify_timestamp_token(_token(pki), data=DATA, trust_anchors_der=[other.root.der])
    assert result.outcome is PathOutcome.INDETERMINATE
    assert result.reason == "no_trusted_anchor"
    assert all(c.ok for c in result.checks if c.name != "chain")


def test_tampered_signature_and_content(pki: TsaFixture) -> None:
    token = bytearray(_token(pki))
    sig_tampered = bytes(token[:-3]) + bytes([token[-3] ^ 1]) + bytes(token[-2:])
    result = verify_timestamp_token(sig_tampered, data=DATA, trust_anchors_der=[pki.root.der])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "bad_signature"
    # Flip a byte of the genTime inside the TSTInfo: messageDigest no longer matches.
    at = bytes(token).index(b"20261122090000Z")
    token[at + 13] = ord("1")
    result = verify_timestamp_token(bytes(token), data=DATA, trust_anchors_der=[pki.root.der])
    assert result.reason == "message_digest_mismatch"


@pytest.mark.parametrize("blob", [b"", b"\x30\x00", b"not a token", b"\x30\x03\x06\x01\x00"])
def test_malformed_tokens_are_invalid_not_exceptions(blob: bytes) -> None:
    result = verify_timestamp_token(blob, data=DATA, trust_anchors_der=[])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "malformed_token"


def test_token_without_certificates_needs_them_given(pki: TsaFixture) -> None:
    token = _token(pki, cert_req=False)
    assert cms.ContentInfo.load(token)["content"]["certificates"].native is None
    missing = verify_timestamp_token(token, data=DATA, trust_anchors_der=[pki.root.der])
    assert missing.reason == "signer_certificate_not_found"
    given = verify_timestamp_token(
        token,
        data=DATA,
        trust_anchors_der=[pki.root.der],
        certificates_der=[pki.tsa.der, pki.issuing.der],
    )
    assert given.valid


def test_pkcs7_content_type_is_accepted_with_a_note(pki: TsaFixture) -> None:
    token = cms.ContentInfo.load(_token(pki))
    variant = cms.ContentInfo({"content_type": "signed_data", "content": token["content"]}).dump()
    result = verify_timestamp_token(variant, data=DATA, trust_anchors_der=[pki.root.der])
    assert result.valid
    assert "content_type_pkcs7" in result.notes


def test_token_signed_by_a_non_tsa_certificate_fails_tsa_eku(pki: TsaFixture) -> None:
    maker = make_cert(
        subject_cn="Maker", profile=Profile.SEAL_MAKER, issuer=pki.issuing, not_before=AT, days=30
    )
    tst = build_tst_info(
        policy_oid=POLICY,
        digest_algorithm_oid=SM3_OID,
        digest=sm3(DATA),
        serial_number=5,
        gen_time=AT + timedelta(hours=1),
        accuracy_seconds=1,
        nonce=None,
        tsa_name=None,
    )
    token = build_token(
        tst_info_der=tst,
        signer_certificate_der=maker.der,
        certificates=[maker.der, pki.issuing.der],
        sign=maker.signer.sign,
    )
    result = verify_timestamp_token(token, data=DATA, trust_anchors_der=[pki.root.der])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "not_a_timestamping_certificate"
    assert {c.name for c in result.checks if not c.ok} == {"tsa_eku", "chain"}


def test_signer_refuses_unsuitable_certificates(pki: TsaFixture) -> None:
    maker = make_tsa(Profile.SEAL_MAKER)
    with pytest.raises(TsaUnavailable, match="RFC 3161"):
        _token(maker)
    lax = make_cert(
        subject_cn="TSA",
        profile=Profile.TIMESTAMP,
        issuer=pki.issuing,
        not_before=AT,
        days=30,
        spec=replace(spec_for(Profile.TIMESTAMP), eku_critical=False),
    )
    lax.signer.chain = (lax.der,)
    with pytest.raises(TsaUnavailable):
        _token(TsaFixture(pki.root, pki.issuing, lax))
    bare = make_tsa()
    bare.tsa.signer.chain = ()
    with pytest.raises(TsaUnavailable, match="no certificate"):
        _token(bare)
    with pytest.raises(TsaUnavailable, match="not valid now"):
        _token(pki, clock=FixedClock(AT + timedelta(days=400)))
    with pytest.raises(TsaBadAlg):
        _token(pki, digest_algorithm_oid="1.3.14.3.2.26")


def test_gen_time_outside_the_certificate_and_validation_time(pki: TsaFixture) -> None:
    token = _token(pki)
    later = AT + timedelta(days=500)  # TSA certificate valid for 365 days
    at_gen = verify_timestamp_token(token, data=DATA, trust_anchors_der=[pki.root.der])
    at_later = verify_timestamp_token(token, data=DATA, trust_anchors_der=[pki.root.der], at=later)
    assert at_gen.valid
    assert at_later.reason == "expired"


def test_tsa_revoked_after_gen_time_still_verifies_with_note(pki: TsaFixture) -> None:
    issuer = parse_certificate(pki.issuing.der)
    serial = parse_certificate(pki.tsa.der).serial_number

    def crl(revoked_at: object) -> bytes:
        tbs = build_tbs_crl(
            issuer=issuer.subject_name,
            issuer_spki_der=issuer.spki_der,
            this_update=AT + timedelta(days=2),
            next_update=AT + timedelta(days=3),
            crl_number=1,
            revoked=[RevokedEntry(serial, revoked_at, "key_compromise")],  # type: ignore[arg-type]
        )
        return assemble_crl(tbs, pki.issuing.signer.sign(tbs.dump()))

    token = _token(pki)  # genTime AT + 1h
    after = CrlRevocationSource([crl(AT + timedelta(days=1))])
    result = verify_timestamp_token(
        token, data=DATA, trust_anchors_der=[pki.root.der], revocation=after
    )
    assert result.valid
    assert any(n.startswith("revoked_after_validation_time:") for n in result.notes)
    before = CrlRevocationSource([crl(AT)])
    result = verify_timestamp_token(
        token, data=DATA, trust_anchors_der=[pki.root.der], revocation=before
    )
    assert result.reason == "revoked"


def test_respond_grants_and_rejects(pki: TsaFixture) -> None:
    clock = FixedClock(AT + timedelta(hours=1))
    query = tsp.TimeStampReq(
        {
            "version": "v1",
            "nonce": 5,
            "cert_req": True,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sm3"},
                "hashed_message": sm3(DATA),
            },
        }
    ).dump()
    granted = tsp.TimeStampResp.load(
        respond(clock=clock, signer=pki.tsa.signer, query_der=query, policy_oid=POLICY)
    )
    assert granted["status"]["status"].native == "granted"
    token = granted["time_stamp_token"].dump()
    assert verify_timestamp_token(token, data=DATA, nonce=5, trust_anchors_der=[pki.root.der]).valid
    other_policy = tsp.TimeStampReq.load(query).copy()
    other_policy["req_policy"] = "1.2.3.4"
    refused = respond(
        clock=clock, signer=pki.tsa.signer, query_der=other_policy.dump(), policy_oid=POLICY
    )
    parsed = TimeStampRespWithOptionalToken.load(refused)
    assert parsed["status"]["fail_info"].native == {"unaccepted_policy"}
    garbage = TimeStampRespWithOptionalToken.load(
        respond(clock=clock, signer=pki.tsa.signer, query_der=b"\x00garbage", policy_oid=POLICY)
    )
    assert garbage["status"]["status"].native == "rejection"
    assert garbage["status"]["fail_info"].native == {"bad_request"}
    bare = make_tsa()
    bare.tsa.signer.chain = ()
    failed = TimeStampRespWithOptionalToken.load(
        respond(clock=clock, signer=bare.tsa.signer, query_der=query, policy_oid=POLICY)
    )
    assert failed["status"]["fail_info"].native == {"system_failure"}
