"""PDF seals with a signature timestamp (seals/stamping.py ``TsaTimeStamper``): the token comes
from the in-process TSA (trust.tsa.service.timestamp), sits in the SignerInfo's unsigned
attributes (RFC 3161 Appendix A) and its imprint covers the SM2 signature value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asn1crypto import cms, tsp

from seals.pdf_verify import verify_pdf_signatures
from seals.ports import TimestampStatus
from seals.stamping import Placement, TsaTimeStamper, stamp_pdf
from seals.trust_adapter import ServiceTimestamps
from tests.unit.seals.pdf_fixtures import cms_of, make_pdf, make_test_signer
from tests.unit.tsa._support import AT, POLICY, TsaFixture, make_tsa
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.crypto.algorithms import OID_SM3
from trust.errors import IntegrityFailure
from trust.tsa.service import timestamp

SIGNED_AT = AT.replace(hour=9)
OID_SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"


@pytest.fixture(scope="module")
def tsa() -> TsaFixture:
    return make_tsa()


def _source(tsa: TsaFixture, calls: list[tuple[str, bytes]]) -> TsaTimeStamper:
    clock = FixedClock(SIGNED_AT)

    def source(oid: str, digest: bytes) -> bytes:
        calls.append((oid, digest))
        return timestamp(
            clock=clock,
            signer=tsa.tsa.signer,
            digest_algorithm_oid=oid,
            digest=digest,
            policy_oid=POLICY,
        )

    return TsaTimeStamper(source)


@pytest.fixture(scope="module")
def stamped(tsa: TsaFixture, seal_png: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    calls: list[tuple[str, bytes]] = []
    out = stamp_pdf(
        make_pdf(pages=1),
        signer=make_test_signer(),
        seal_image_png=seal_png,
        seal_size_mm=(42, 42),
        placement=Placement(0, 120, 200),
        signing_time=SIGNED_AT,
        timestamper=_source(tsa, calls),
    )
    return out, calls


def _timestamps(tsa: TsaFixture, *, anchored: bool = True) -> ServiceTimestamps:
    return ServiceTimestamps(
        anchors=[tsa.root.der] if anchored else [],
        intermediates=[tsa.issuing.der],
        revocation=None,
    )


def test_token_is_an_unsigned_attribute_over_the_signature_value(
    stamped: tuple[bytes, list[tuple[str, bytes]]],
) -> None:
    out, calls = stamped
    [check] = verify_pdf_signatures(out).signatures
    assert check.intact
    assert check.covers_whole_file
    assert check.timestamp_token is not None
    signer_info = cms.ContentInfo.load(cms_of(out))["content"]["signer_infos"][0]
    [attr] = [
        a for a in signer_info["unsigned_attrs"] if a["type"].dotted == OID_SIGNATURE_TIMESTAMP
    ]
    token = attr["values"][0]
    tst = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents)
    imprint = tst["message_imprint"]
    signature = bytes(signer_info["signature"].native)
    assert signature == check.signature_value
    assert imprint["hash_algorithm"]["algorithm"].dotted == OID_SM3
    assert imprint["hashed_message"].native == sm3(signature)
    # One dummy call to size the container, one real call over SM3 of the signature value.
    assert calls[-1] == (OID_SM3, sm3(signature))
    assert tst["gen_time"].native == SIGNED_AT


def test_timestamp_verifies_against_the_tsa_root_only(
    tsa: TsaFixture, stamped: tuple[bytes, list[tuple[str, bytes]]]
) -> None:
    out, _ = stamped
    [check] = verify_pdf_signatures(out).signatures
    assert check.timestamp_token is not None
    good = _timestamps(tsa).verify(check.timestamp_token, covered=check.signature_value)
    assert (good.status, good.time) == (TimestampStatus.VALID, SIGNED_AT)
    untrusted = _timestamps(tsa, anchored=False).verify(
        check.timestamp_token, covered=check.signature_value
    )
    assert untrusted.status is TimestampStatus.INDETERMINATE
    other = _timestamps(tsa).verify(check.timestamp_token, covered=check.signature_value + b"x")
    assert (other.status, other.reason) == (TimestampStatus.INVALID, "timestamp.imprint_mismatch")


def test_a_bad_token_from_the_source_refuses_to_stamp(seal_png: bytes) -> None:
    with pytest.raises(IntegrityFailure) as info:
        stamp_pdf(
            make_pdf(pages=1),
            signer=make_test_signer(),
            seal_image_png=seal_png,
            seal_size_mm=(42, 42),
            placement=Placement(0, 120, 200),
            signing_time=datetime(2026, 11, 22, 9, tzinfo=UTC),
            timestamper=TsaTimeStamper(lambda oid, digest: b"\x30\x03\x02\x01\x00"),
        )
    assert info.value.code == "seal.tsa_bad_token"


def test_without_a_timestamper_there_is_no_token(seal_png: bytes) -> None:
    out = stamp_pdf(
        make_pdf(pages=1),
        signer=make_test_signer(),
        seal_image_png=seal_png,
        seal_size_mm=(42, 42),
        placement=Placement(0, 120, 200),
        signing_time=SIGNED_AT,
    )
    [check] = verify_pdf_signatures(out).signatures
    assert check.timestamp_token is None
    signer_info = cms.ContentInfo.load(cms_of(out))["content"]["signer_infos"][0]
    assert not signer_info["unsigned_attrs"]
