"""CRLs (RFC 5280 §5): built and parsed without a database; as a revocation source they count
only when the certificate's own issuer signed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.ca._support import PureCert, make_cert
from trust.ca.crl import (
    CrlRevocationSource,
    RevokedEntry,
    assemble_crl,
    build_tbs_crl,
    crl_signature_problem,
    normalise_reason,
    parse_crl,
)
from trust.ca.errors import BadCrl, BadRevocationReason
from trust.ca.path import RevocationState
from trust.ca.profiles import Profile
from trust.ca.x509 import parse_certificate

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("keyCompromise", "key_compromise"),
        ("key-compromise", "key_compromise"),
        ("KEY_COMPROMISE", "key_compromise"),
        ("cACompromise", "ca_compromise"),
        ("superseded", "superseded"),
        ("cessationOfOperation", "cessation_of_operation"),
    ],
)
def test_reason_names(text: str, name: str) -> None:
    assert normalise_reason(text) == name


@pytest.mark.parametrize("text", ["certificateHold", "removeFromCRL", "because", ""])
def test_hold_and_unknown_reasons_are_refused(text: str) -> None:
    with pytest.raises(BadRevocationReason):
        normalise_reason(text)


def _crl(issuer_cn: str = "Sub") -> tuple[bytes, PureCert, PureCert, PureCert]:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    sub = make_cert(
        subject_cn=issuer_cn, profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    leaf = make_cert(
        subject_cn="Leaf", profile=Profile.SEAL_HOLDER, issuer=sub, not_before=AT, days=10
    )
    issuer = parse_certificate(sub.der)
    tbs = build_tbs_crl(
        issuer=issuer.subject_name,
        issuer_spki_der=issuer.spki_der,
        this_update=AT,
        next_update=AT + timedelta(days=1),
        crl_number=7,
        revoked=[
            RevokedEntry(parse_certificate(leaf.der).serial_number, AT, "key_compromise"),
            RevokedEntry(12345, AT - timedelta(days=1), "unspecified"),
        ],
    )
    return assemble_crl(tbs, sub.signer.sign(tbs.dump())), root, sub, leaf


def test_crl_round_trip_and_signature() -> None:
    der, _root, sub, leaf = _crl()
    facts = parse_crl(der)
    assert facts.crl_number == 7
    assert facts.this_update == AT
    assert facts.next_update == AT + timedelta(days=1)
    leaf_serial = parse_certificate(leaf.der).serial_number
    assert facts.entries[leaf_serial] == (AT, "key_compromise")
    assert facts.entries[12345] == (AT - timedelta(days=1), "unspecified")
    assert crl_signature_problem(facts, parse_certificate(sub.der)) is None


def test_crl_revocation_source_trusts_only_the_issuer() -> None:
    der, root, sub, leaf = _crl()
    source = CrlRevocationSource([der])
    leaf_facts = parse_certificate(leaf.der)
    status = source.status(leaf_facts, parse_certificate(sub.der))
    assert status.state is RevocationState.REVOKED
    assert status.revoked_at == AT
    assert status.reason == "key_compromise"
    # The same CRL presented for a certificate of another issuer says nothing.
    other = source.status(leaf_facts, parse_certificate(root.der))
    assert other.state is RevocationState.UNKNOWN


def test_forged_crl_is_ignored() -> None:
    der, _root, sub, leaf = _crl()
    forged = der[:-8] + bytes(8)  # break the signature
    source = CrlRevocationSource([forged, b"junk"])
    status = source.status(parse_certificate(leaf.der), parse_certificate(sub.der))
    assert status.state is RevocationState.UNKNOWN


def test_unparseable_crl() -> None:
    with pytest.raises(BadCrl):
        parse_crl(b"\x30\x01\x00")
