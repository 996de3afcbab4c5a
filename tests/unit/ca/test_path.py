"""SM2-aware path validation (RFC 5280 §6.1): the OpenSSL-made vector chain validates, and each
kind of defect gives its own reason code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.unit.ca._support import make_cert
from trust.ca.path import (
    ChainValidation,
    LeafPolicy,
    PathOutcome,
    RevocationState,
    RevocationStatus,
    validate_chain,
)
from trust.ca.profiles import Profile, leaf_policy, spec_for
from trust.ca.x509 import CertificateFacts, parse_certificate, pem_to_der_list

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SIGNING = LeafPolicy(
    key_usage=frozenset({"digital_signature", "non_repudiation"}),
    extended_key_usage=frozenset(),
    eku_must_be_critical=False,
    eku_exclusive=False,
    end_entity=True,
)


def _der(path: Path) -> bytes:
    (der,) = pem_to_der_list(path.read_bytes())
    return der


@pytest.fixture(scope="module")
def vectors() -> dict[str, bytes]:
    base = shared_path("vectors", "openssl_sm2_chain")
    return {n: _der(base / f"{n}.pem") for n in ("root", "subca", "maker", "signer")}


def _validate(
    leaf: bytes, chain: list[bytes], anchors: list[bytes], **kw: object
) -> ChainValidation:
    args: dict[str, object] = {"at": AT, "policy": SIGNING, "revocation": None}
    args.update(kw)
    return validate_chain(leaf=leaf, intermediates=chain, trust_anchors=anchors, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("leaf", ["signer", "maker"])
def test_openssl_vector_chain_validates(vectors: dict[str, bytes], leaf: str) -> None:
    result = _validate(vectors[leaf], [vectors["subca"]], [vectors["root"]])
    assert result.valid, result.failed
    assert result.outcome is PathOutcome.VALID
    assert result.reason is None
    assert result.chain == (vectors[leaf], vectors["subca"], vectors["root"])
    assert result.anchor == vectors["root"]
    signature_checks = [c for c in result.checks if c.name == "signature"]
    assert [c.depth for c in signature_checks] == [1, 0]
    assert all(c.ok for c in result.checks)
    serial = parse_certificate(vectors[leaf]).serial_number
    assert f"revocation_not_checked:{serial:x}" in result.notes


def test_intermediate_order_and_extras_do_not_matter(vectors: dict[str, bytes]) -> None:
    result = _validate(
        vectors["signer"], [vectors["maker"], vectors["root"], vectors["subca"]], [vectors["root"]]
    )
    assert result.valid


def test_unknown_anchor_is_indeterminate_not_bad_signature(vectors: dict[str, bytes]) -> None:
    ours = make_cert(
        subject_cn="Other Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=10
    )
    result = _validate(vectors["signer"], [vectors["subca"], vectors["root"]], [ours.der])
    assert result.outcome is PathOutcome.INDETERMINATE
    assert result.reason == "no_trusted_anchor"
    assert result.anchor is None
    assert not any(c.reason == "bad_signature" for c in result.checks)


def test_no_anchors_at_all_fails_closed(vectors: dict[str, bytes]) -> None:
    result = _validate(vectors["signer"], [vectors["subca"]], [])
    assert not result.valid
    assert result.reason == "no_trusted_anchor"


def test_missing_intermediate_is_no_trusted_anchor(vectors: dict[str, bytes]) -> None:
    result = _validate(vectors["signer"], [], [vectors["root"]])
    assert result.outcome is PathOutcome.INDETERMINATE
    assert result.reason == "no_trusted_anchor"


def test_wrong_link_is_bad_signature() -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    sub = make_cert(
        subject_cn="Sub", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    impostor = make_cert(
        subject_cn="Impostor", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    # Names the real sub-CA as issuer, signed with another key: a wrong link.
    leaf = make_cert(
        subject_cn="Leaf",
        profile=Profile.SEAL_HOLDER,
        issuer=sub,
        not_before=AT,
        days=10,
        sign_with=impostor.signer,
    )
    result = _validate(leaf.der, [sub.der], [root.der])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "bad_signature"
    (bad,) = result.failed
    assert bad.name == "signature"
    assert bad.depth == 0


def test_wrong_link_without_anchor_is_still_bad_signature() -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    sub = make_cert(
        subject_cn="Sub", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    impostor = make_cert(
        subject_cn="Impostor", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    leaf = make_cert(
        subject_cn="Leaf",
        profile=Profile.SEAL_HOLDER,
        issuer=sub,
        not_before=AT,
        days=10,
        sign_with=impostor.signer,
    )
    unrelated = make_cert(
        subject_cn="X", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=5
    )
    result = _validate(leaf.der, [sub.der, root.der], [unrelated.der])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "bad_signature"


def test_same_named_anchor_with_another_key_is_not_the_issuer() -> None:
    """RFC 5280 §4.2.1.1: the authority key identifier tells two same-named CAs apart."""
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    other = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    sub = make_cert(
        subject_cn="Sub", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    result = _validate(sub.der, [], [other.der], policy=leaf_policy(Profile.ISSUING_CA))
    assert result.outcome is PathOutcome.INDETERMINATE
    assert result.reason == "no_trusted_anchor"


def test_expired_leaf_at_the_validation_time(vectors: dict[str, bytes]) -> None:
    later = datetime(2032, 1, 1, tzinfo=UTC)  # signer valid to 2031-11-21
    result = _validate(vectors["signer"], [vectors["subca"]], [vectors["root"]], at=later)
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "expired"
    assert [(c.name, c.depth) for c in result.failed] == [("validity", 0)]
    earlier = datetime(2026, 11, 21, tzinfo=UTC)
    assert (
        _validate(vectors["signer"], [vectors["subca"]], [vectors["root"]], at=earlier).reason
        == "not_yet_valid"
    )


def test_ca_without_key_cert_sign_is_rejected() -> None:
    """ofdrw's test root lacks keyCertSign (eseal spec §9): signatures verify, the path fails."""
    base = shared_path("samples", "ofdrw", "gm")
    root, user = _der(base / "ROOT.crt.pem"), _der(base / "USER.crt.pem")
    policy = LeafPolicy(frozenset({"digital_signature"}), frozenset(), False, False, False)
    result = _validate(user, [], [root], at=datetime(2024, 1, 1, tzinfo=UTC), policy=policy)
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "ca_missing_key_cert_sign"
    assert all(c.ok for c in result.checks if c.name == "signature")


def test_path_length_constraint() -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    issuing = make_cert(
        subject_cn="Issuing", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=50
    )
    # The issuing CA has pathLen 0, yet certifies another CA, which certifies a leaf.
    sub = make_cert(
        subject_cn="Sub", profile=Profile.ISSUING_CA, issuer=issuing, not_before=AT, days=20
    )
    leaf = make_cert(
        subject_cn="Leaf", profile=Profile.SEAL_MAKER, issuer=sub, not_before=AT, days=10
    )
    result = _validate(leaf.der, [sub.der, issuing.der], [root.der])
    assert result.reason == "path_length_exceeded"
    assert [(c.name, c.depth) for c in result.failed] == [("path_length", 2)]


def test_leaf_acting_as_ca_is_not_a_ca() -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    leaf = make_cert(
        subject_cn="Leaf", profile=Profile.SEAL_MAKER, issuer=root, not_before=AT, days=10
    )
    below = make_cert(
        subject_cn="Below", profile=Profile.SEAL_MAKER, issuer=leaf, not_before=AT, days=10
    )
    result = _validate(below.der, [leaf.der], [root.der])
    assert "not_a_ca" in {c.reason for c in result.failed}
    assert "ca_missing_key_cert_sign" in {c.reason for c in result.failed}


def test_leaf_policy_eku_and_criticality() -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    maker = make_cert(
        subject_cn="Maker", profile=Profile.SEAL_MAKER, issuer=root, not_before=AT, days=10
    )
    tsa = make_cert(
        subject_cn="TSA", profile=Profile.TIMESTAMP, issuer=root, not_before=AT, days=10
    )
    assert _validate(maker.der, [], [root.der], policy=leaf_policy(Profile.SEAL_MAKER)).valid
    assert _validate(maker.der, [], [root.der], policy=leaf_policy(Profile.TIMESTAMP)).reason == (
        "leaf_extended_key_usage"
    )
    assert _validate(tsa.der, [], [root.der], policy=leaf_policy(Profile.TIMESTAMP)).valid
    lax = spec_for(Profile.TIMESTAMP)
    from dataclasses import replace

    not_critical = make_cert(
        subject_cn="TSA2",
        profile=Profile.TIMESTAMP,
        issuer=root,
        not_before=AT,
        days=10,
        spec=replace(lax, eku_critical=False),
    )
    result = _validate(not_critical.der, [], [root.der], policy=leaf_policy(Profile.TIMESTAMP))
    assert result.reason == "leaf_eku_not_critical"


@dataclass
class _Revoked:
    serial: int
    at: datetime

    def status(self, certificate: CertificateFacts, issuer: CertificateFacts) -> RevocationStatus:
        if certificate.serial_number == self.serial:
            return RevocationStatus(RevocationState.REVOKED, self.at, "key_compromise")
        return RevocationStatus(RevocationState.GOOD)


def test_revoked_before_the_time_fails_after_the_time_passes_with_note(
    vectors: dict[str, bytes],
) -> None:
    serial = parse_certificate(vectors["signer"]).serial_number
    before = _Revoked(serial, AT - timedelta(hours=1))
    result = _validate(vectors["signer"], [vectors["subca"]], [vectors["root"]], revocation=before)
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "revoked"
    after = _Revoked(serial, AT + timedelta(hours=1))
    result = _validate(vectors["signer"], [vectors["subca"]], [vectors["root"]], revocation=after)
    assert result.valid
    assert f"revoked_after_validation_time:{serial:x}:key_compromise" in result.notes


def test_revoked_intermediate_fails(vectors: dict[str, bytes]) -> None:
    serial = parse_certificate(vectors["subca"]).serial_number
    result = _validate(
        vectors["signer"], [vectors["subca"]], [vectors["root"]], revocation=_Revoked(serial, AT)
    )
    assert result.reason == "revoked"
    assert [(c.name, c.depth) for c in result.failed] == [("revocation", 1)]


class _Unknown:
    def status(self, certificate: CertificateFacts, issuer: CertificateFacts) -> RevocationStatus:
        return RevocationStatus(RevocationState.UNKNOWN)


def test_unknown_revocation_status_noted_or_required(vectors: dict[str, bytes]) -> None:
    args = (vectors["signer"], [vectors["subca"]], [vectors["root"]])
    assert _validate(*args, revocation=_Unknown()).valid
    strict = _validate(*args, revocation=_Unknown(), require_known_revocation=True)
    assert strict.outcome is PathOutcome.INDETERMINATE
    assert strict.reason == "revocation_unknown"


def test_unreadable_leaf_is_invalid_not_an_exception(vectors: dict[str, bytes]) -> None:
    result = _validate(b"\x30\x03\x02\x01\x01", [], [vectors["root"]])
    assert result.outcome is PathOutcome.INVALID
    assert result.reason == "malformed_certificate"


def test_anchor_itself_validates_as_ca(vectors: dict[str, bytes]) -> None:
    result = _validate(vectors["root"], [], [vectors["root"]], policy=leaf_policy(Profile.ROOT_CA))
    assert result.valid


def test_expired_intermediate(vectors: dict[str, bytes]) -> None:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=100
    )
    sub = make_cert(
        subject_cn="Sub", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=1
    )
    leaf = make_cert(
        subject_cn="Leaf", profile=Profile.SEAL_MAKER, issuer=sub, not_before=AT, days=10
    )
    result = _validate(leaf.der, [sub.der], [root.der], at=AT + timedelta(days=2))
    assert result.reason == "expired"
    assert [(c.name, c.depth) for c in result.failed] == [("validity", 1)]


def test_real_tax_certificate_without_its_ca_is_indeterminate(vectors: dict[str, bytes]) -> None:
    """vectors/gz_tax_invoice_2022: the issuing CA is not available, so trust cannot be
    established; that is "issuer unknown", not "signature invalid" (vectors README)."""
    signer = shared_path("vectors", "gz_tax_invoice_2022", "signer_cert.der").read_bytes()
    signing_time = datetime(2022, 5, 5, 1, 40, 17, tzinfo=UTC)
    result = _validate(signer, [], [vectors["root"]], at=signing_time)
    assert result.outcome is PathOutcome.INDETERMINATE
    assert result.reason == "no_trusted_anchor"
    assert not any(c.reason == "bad_signature" for c in result.checks)
