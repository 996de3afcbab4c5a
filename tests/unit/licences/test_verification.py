"""The signed trust list and the mapping of envelope checks to the fixed result codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licences.envelope import decode_el1, encode_el1, sign_envelope, verify_envelope
from licences.identifiers import build_identifier
from licences.verification import (
    Result,
    TrustListEntry,
    envelope_result,
    sign_trust_list,
    verify_trust_list,
)
from tests.unit.licences._support import (
    ISSUER_CODE,
    TYPE_CODE,
    issuer_key,
    kid_of,
    other_key,
    typical_payload,
)
from trust.errors import VerificationFailed

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _list(sign_with: object = None) -> bytes:
    anchor = other_key()
    key = issuer_key()
    entry = TrustListEntry(kid_of(key), key.public_key(), (ISSUER_CODE,), "湖南省住房和城乡建设厅")
    signer = sign_with or anchor
    return sign_trust_list(
        [entry],
        sequence=7,
        issued_at=NOW,
        expires_at=NOW + timedelta(days=7),
        kid=kid_of(anchor),
        sign=signer.sign,  # type: ignore[attr-defined]
    )


def test_trust_list_round_trip_and_envelope_check() -> None:
    token = verify_trust_list(_list(), other_key().public_key(), now=NOW)
    assert token.sequence == 7
    assert token.issued_at == NOW
    assert token.issuer_names() == {ISSUER_CODE: "湖南省住房和城乡建设厅"}
    cose = sign_envelope(typical_payload(), kid=kid_of(issuer_key()), sign=issuer_key().sign)
    checked = verify_envelope(decode_el1(encode_el1(cose)), token.trusted_keys(), NOW)
    assert envelope_result(checked) == (Result.VALID, "ok")
    # Bound to its issuer code: the same key signing for another issuer is UNKNOWN_ISSUER.
    ident = build_identifier(TYPE_CODE, "91350100M000100Y43")
    other_issuer = typical_payload(identifier=ident.text, issuer_code="91350100M000100Y43")
    cose = sign_envelope(other_issuer, kid=kid_of(issuer_key()), sign=issuer_key().sign)
    checked = verify_envelope(decode_el1(encode_el1(cose)), token.trusted_keys(), NOW)
    assert envelope_result(checked) == (Result.UNKNOWN_ISSUER, "issuer_not_bound_to_key")


def test_trust_list_refused_under_another_anchor_or_when_changed() -> None:
    data = _list()
    with pytest.raises(VerificationFailed):
        verify_trust_list(data, issuer_key().public_key(), now=NOW)
    with pytest.raises(VerificationFailed):
        verify_trust_list(_list(sign_with=issuer_key()), other_key().public_key(), now=NOW)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(VerificationFailed):
        verify_trust_list(bytes(tampered), other_key().public_key(), now=NOW)
    with pytest.raises(VerificationFailed):
        verify_trust_list(b"\x00" * 10, other_key().public_key(), now=NOW)


def test_trust_list_refused_before_issue_and_after_expiry() -> None:
    """Spec §9.8: a trust list is used only inside its validity (iat − 90 s … exp)."""
    anchor = other_key().public_key()
    data = _list()
    assert verify_trust_list(data, anchor, now=NOW - timedelta(seconds=90)).sequence == 7
    assert verify_trust_list(data, anchor, now=NOW + timedelta(days=7)).sequence == 7
    with pytest.raises(VerificationFailed) as early:
        verify_trust_list(data, anchor, now=NOW - timedelta(seconds=91))
    assert early.value.code == "licence.trust_list.not_yet_valid"
    with pytest.raises(VerificationFailed) as late:
        verify_trust_list(data, anchor, now=NOW + timedelta(days=7, seconds=1))
    assert late.value.code == "licence.trust_list.expired"
    with pytest.raises(VerificationFailed):
        verify_trust_list(data, anchor, now=NOW.replace(tzinfo=None))


def test_envelope_results_map_to_fixed_codes() -> None:
    token = verify_trust_list(_list(), other_key().public_key(), now=NOW)
    cose = sign_envelope(typical_payload(), kid=kid_of(other_key()), sign=other_key().sign)
    unknown = verify_envelope(decode_el1(encode_el1(cose)), token.trusted_keys(), NOW)
    assert envelope_result(unknown)[0] is Result.UNKNOWN_ISSUER
    forged = sign_envelope(typical_payload(), kid=kid_of(issuer_key()), sign=other_key().sign)
    bad = verify_envelope(decode_el1(encode_el1(forged)), token.trusted_keys(), NOW)
    assert envelope_result(bad) == (Result.BAD_SIGNATURE, "signature_mismatch")
    later = datetime(2032, 1, 1, tzinfo=UTC)
    ok = sign_envelope(typical_payload(), kid=kid_of(issuer_key()), sign=issuer_key().sign)
    expired = verify_envelope(decode_el1(encode_el1(ok)), token.trusted_keys(), later)
    assert envelope_result(expired) == (Result.EXPIRED, "licence_expired")
