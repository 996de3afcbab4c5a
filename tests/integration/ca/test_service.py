"""The CA services on a real database: initialisation, issuance per profile, CSRs, revocation,
CRLs, status, key chains and the trust list, each with its transparency-log evidence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import shared_path
from tests.integration.ca.conftest import CRL_URL, CaFixture, log_kinds, log_size
from tests.unit.ca._support import ID_OPT, SM2TestSigner, run_openssl
from trust.ca import _store, service
from trust.ca.crl import parse_crl
from trust.ca.errors import (
    AlreadyRevoked,
    BadTrustAnchor,
    BadValidity,
    CaAlreadyInitialised,
    CannotRevokeRoot,
    CertificateNotFound,
    IssuerKeyMismatch,
    NotAnIssuer,
    ProfileNotAllowed,
)
from trust.ca.model import CaCertificate
from trust.ca.path import PathOutcome, validate_chain
from trust.ca.profiles import LEAF_PROFILES, Profile, leaf_policy, spec_for
from trust.ca.x509 import parse_certificate, pem_to_der_list
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.tlog import append as tlog_append

USCC = "91350100M000100Y43"


def _issue(
    session: Session, clock: FixedClock, ca: CaFixture, profile: Profile, **kw: object
) -> tuple[SM2TestSigner, service.IssuedCertificate]:
    holder = SM2TestSigner()
    issued = service.issue_certificate(
        session=session,
        clock=clock,
        issuer_signer=ca.issuing,
        subject_public_key_der=holder.public_key_der(),
        subject={"CN": f"{profile.value} 测试", "O": "某某市人民政府", "uscc": USCC},
        profile=profile,
        key_id=holder.key_id,
        actor="test",
        **kw,  # type: ignore[arg-type]
    )
    return holder, issued


def test_init_creates_root_and_issuing_ca(
    ca: CaFixture, db: sessionmaker[Session], clock: FixedClock
) -> None:
    root = parse_certificate(ca.init.root.der)
    issuing = parse_certificate(ca.init.issuing.der)
    assert root.self_issued
    assert root.is_ca
    assert root.path_len is None
    assert root.key_usage == frozenset({"key_cert_sign", "crl_sign"})
    assert root.not_after - root.not_before == timedelta(days=20 * 365)
    assert issuing.is_ca
    assert issuing.path_len == 0
    assert issuing.not_after - issuing.not_before == timedelta(days=10 * 365)
    assert issuing.issuer_name == root.subject_name
    assert ca.init.root.subject == "C=CN, O=测试信任服务, CN=测试信任服务 根CA"
    assert ca.init.root.key_id == ca.root.key_id
    with db() as s:
        anchors = service.list_trust_anchors(session=s)
        assert [(a.source, a.der) for a in anchors] == [("own", ca.init.root.der)]
        assert service.trust_anchors_der(session=s) == [ca.init.root.der]
        assert service.authority_key_id(session=s) == ca.issuing.key_id
        assert service.authority_key_id(session=s, role="root") == ca.root.key_id
        assert service.ca_chain(session=s) == [ca.init.issuing.der, ca.init.root.der]
    assert log_kinds(db) == [
        "ca.certificate_issued",
        "ca.certificate_issued",
        "trust_list.anchor_added",
    ]
    result = validate_chain(
        leaf=ca.init.issuing.der,
        intermediates=[],
        trust_anchors=[ca.init.root.der],
        at=clock.now(),
        policy=leaf_policy(Profile.ISSUING_CA),
        revocation=None,
    )
    assert result.valid, result.failed


def test_second_init_is_refused(ca: CaFixture, session: Session, clock: FixedClock) -> None:
    with pytest.raises(CaAlreadyInitialised):
        service.init_ca(
            session=session,
            clock=clock,
            root_signer=SM2TestSigner(),
            issuing_signer=SM2TestSigner(),
            name="again",
        )


@pytest.mark.parametrize("profile", sorted(LEAF_PROFILES))
def test_each_profile_issues_a_valid_leaf(
    ca: CaFixture, session: Session, clock: FixedClock, profile: Profile
) -> None:
    holder, issued = _issue(session, clock, ca, profile)
    facts = parse_certificate(issued.der)
    spec = spec_for(profile)
    assert facts.key_usage == spec.key_usage
    assert facts.extended_key_usage == spec.extended_key_usage
    assert facts.eku_critical is spec.eku_critical
    assert facts.is_ca is False
    assert issued.profile is profile
    assert issued.key_id == holder.key_id
    assert facts.not_after - facts.not_before == timedelta(days=spec.default_validity_days)
    assert facts.issuer_name == parse_certificate(ca.init.issuing.der).subject_name
    assert f"organizationIdentifier=NTRCN-{USCC}" in facts.subject
    assert CRL_URL.encode() in issued.der
    chain = service.certificate_chain_for_key(session=session, key_id=holder.key_id)
    assert chain == [issued.der, ca.init.issuing.der, ca.init.root.der]
    result = validate_chain(
        leaf=issued.der,
        intermediates=chain[1:],
        trust_anchors=[ca.init.root.der],
        at=clock.now(),
        policy=leaf_policy(profile),
        revocation=service.StoredRevocation(session),
    )
    assert result.valid, result.failed


def test_chain_for_unknown_key_is_empty(ca: CaFixture, session: Session) -> None:
    assert service.certificate_chain_for_key(session=session, key_id="key_nope") == []
    assert service.certificate_chain_for_key(session=session, key_id=ca.root.key_id) == [
        ca.init.root.der
    ]


def test_ca_profiles_and_bad_validity_are_refused(
    ca: CaFixture, session: Session, clock: FixedClock
) -> None:
    with pytest.raises(ProfileNotAllowed):
        _issue(session, clock, ca, Profile.ISSUING_CA)
    with pytest.raises(BadValidity):
        _issue(session, clock, ca, Profile.SEAL_MAKER, validity_days=0)
    with pytest.raises(BadValidity):
        _issue(session, clock, ca, Profile.SEAL_MAKER, validity_days=10_000)


def test_validity_never_outlives_the_issuer(
    ca: CaFixture, session: Session, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=10 * 365 - 30))
    _, issued = _issue(session, clock, ca, Profile.SEAL_HOLDER)
    assert issued.not_after == ca.init.issuing.not_after


def test_only_a_ca_key_with_a_valid_certificate_may_issue(
    ca: CaFixture, session: Session, clock: FixedClock
) -> None:
    stranger = SM2TestSigner()
    with pytest.raises(NotAnIssuer):
        service.issue_certificate(
            session=session,
            clock=clock,
            issuer_signer=stranger,
            subject_public_key_der=SM2TestSigner().public_key_der(),
            subject={"CN": "x"},
            profile="seal_maker",
            actor="test",
        )
    clock.advance(timedelta(days=11 * 365))  # the issuing CA has expired
    with pytest.raises(NotAnIssuer):
        _issue(session, clock, ca, Profile.SEAL_MAKER)


class _Liar(SM2TestSigner):
    """Claims the issuing CA's key id but signs with another key."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id=key_id)


def test_signer_whose_key_does_not_match_its_certificate_is_refused(
    ca: CaFixture, session: Session, clock: FixedClock
) -> None:
    with pytest.raises(IssuerKeyMismatch):
        service.issue_certificate(
            session=session,
            clock=clock,
            issuer_signer=_Liar(ca.issuing.key_id),
            subject_public_key_der=SM2TestSigner().public_key_der(),
            subject={"CN": "x"},
            profile="seal_maker",
            actor="test",
        )


def test_issue_from_openssl_csr(
    ca: CaFixture, session: Session, clock: FixedClock, tmp_path: Path
) -> None:
    run_openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=tmp_path)
    run_openssl(
        "req",
        "-new",
        "-key",
        "k.pem",
        "-sm3",
        "-sigopt",
        ID_OPT,
        "-subj",
        f"/C=CN/O=Test Agency/CN=Agency/serialNumber={USCC}",
        "-out",
        "r.csr",
        cwd=tmp_path,
    )
    issued = service.issue_from_csr(
        session=session,
        clock=clock,
        issuer_signer=ca.issuing,
        csr=(tmp_path / "r.csr").read_bytes(),
        profile="seal_holder",
        actor="test",
    )
    assert issued.subject == f"C=CN, O=Test Agency, CN=Agency, organizationIdentifier=NTRCN-{USCC}"
    assert issued.key_id is None
    override = service.issue_from_csr(
        session=session,
        clock=clock,
        issuer_signer=ca.issuing,
        csr=(tmp_path / "r.csr").read_bytes(),
        profile="organisation",
        subject={"CN": "Overridden"},
        actor="test",
    )
    assert override.subject == "C=CN, CN=Overridden"


def test_revoke_status_and_crl(ca: CaFixture, db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as s, s.begin():
        _, issued = _issue(s, clock, ca, Profile.SEAL_MAKER)
        good = service.certificate_status(session=s, clock=clock, serial=issued.serial)
        assert (good.status, good.revoked_at, good.expired) == ("good", None, False)
    clock.advance(timedelta(minutes=5))
    with db() as s, s.begin():
        status = service.revoke(
            session=s,
            clock=clock,
            serial=issued.serial.upper(),
            reason="keyCompromise",
            actor="test",
        )
    assert status.status == "revoked"
    assert status.reason == "key_compromise"
    assert status.revoked_at == clock.now()
    with db() as s, s.begin(), pytest.raises(AlreadyRevoked):
        service.revoke(session=s, clock=clock, serial=issued.serial, reason="superseded", actor="t")
    with db() as s, s.begin(), pytest.raises(CannotRevokeRoot):
        service.revoke(
            session=s, clock=clock, serial=ca.init.root.serial, reason="unspecified", actor="t"
        )
    with db() as s, s.begin(), pytest.raises(CertificateNotFound):
        service.certificate_status(session=s, clock=clock, serial="abcdef")
    with db() as s, s.begin():
        first = parse_crl(service.build_crl(session=s, clock=clock, issuer_signer=ca.issuing))
        second = parse_crl(service.build_crl(session=s, clock=clock, issuer_signer=ca.issuing))
    assert (first.crl_number, second.crl_number) == (1, 2)
    assert first.entries == {int(issued.serial, 16): (clock.now(), "key_compromise")}
    assert first.issuer_name == parse_certificate(ca.init.issuing.der).subject_name
    assert first.next_update == first.this_update + timedelta(days=1)
    assert log_kinds(db)[-4:] == [
        "ca.certificate_issued",
        "ca.certificate_revoked",
        "ca.crl_published",
        "ca.crl_published",
    ]
    # The revoked certificate fails path validation after the revocation time, passes before.
    with db() as s:
        kwargs = {
            "leaf": issued.der,
            "intermediates": [ca.init.issuing.der],
            "trust_anchors": [ca.init.root.der],
            "policy": leaf_policy(Profile.SEAL_MAKER),
            "revocation": service.StoredRevocation(s),
        }
        after = validate_chain(at=clock.now() + timedelta(seconds=1), **kwargs)  # type: ignore[arg-type]
        before = validate_chain(at=clock.now() - timedelta(minutes=1), **kwargs)  # type: ignore[arg-type]
    assert after.outcome is PathOutcome.INVALID
    assert after.reason == "revoked"
    assert before.valid
    assert any(n.startswith("revoked_after_validation_time:") for n in before.notes)


def test_current_crl_is_reused_until_stale_or_changed(
    ca: CaFixture, db: sessionmaker[Session], clock: FixedClock
) -> None:
    with db() as s, s.begin():
        one = service.current_crl(session=s, clock=clock, issuer_signer=ca.issuing)
        assert service.current_crl(session=s, clock=clock, issuer_signer=ca.issuing) == one
        _, issued = _issue(s, clock, ca, Profile.ARCHIVE)
        service.revoke(session=s, clock=clock, serial=issued.serial, reason="superseded", actor="t")
        two = service.current_crl(session=s, clock=clock, issuer_signer=ca.issuing)
    assert parse_crl(two).crl_number == 2
    assert int(issued.serial, 16) in parse_crl(two).entries
    clock.advance(timedelta(hours=20))  # less than the refresh margin left
    with db() as s, s.begin():
        three = service.current_crl(session=s, clock=clock, issuer_signer=ca.issuing)
    assert parse_crl(three).crl_number == 3


def test_failure_mid_issue_leaves_no_row_and_no_log_entry(
    ca: CaFixture, db: sessionmaker[Session], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = log_size(db)
    real_append = tlog_append

    def append_then_fail(**kwargs: object) -> object:
        real_append(**kwargs)  # type: ignore[arg-type]
        raise RuntimeError("injected failure after the event was appended")

    monkeypatch.setattr(_store, "append", append_then_fail)
    holder = SM2TestSigner()
    with pytest.raises(RuntimeError, match="injected"), db() as s, s.begin():
        service.issue_certificate(
            session=s,
            clock=clock,
            issuer_signer=ca.issuing,
            subject_public_key_der=holder.public_key_der(),
            subject={"CN": "doomed"},
            profile="seal_holder",
            key_id=holder.key_id,
            actor="test",
        )
    assert log_size(db) == before
    with db() as s:
        assert s.scalar(select(func.count()).where(CaCertificate.key_id == holder.key_id)) == 0
        assert service.certificate_chain_for_key(session=s, key_id=holder.key_id) == []


def test_trust_anchor_import(ca: CaFixture, db: sessionmaker[Session], clock: FixedClock) -> None:
    root_pem = shared_path("vectors", "openssl_sm2_chain", "root.pem").read_bytes()
    subca_pem = shared_path("vectors", "openssl_sm2_chain", "subca.pem").read_bytes()
    with db() as s, s.begin():
        added = service.add_trust_anchor(
            session=s, clock=clock, pem=root_pem + subca_pem, actor="t", label="测试"
        )
        again = service.add_trust_anchor(session=s, clock=clock, pem=root_pem, actor="t")
    assert [a.subject for a in added] == [
        "C=CN, O=Test Gov CA, CN=Test SM2 Root CA",
        "C=CN, O=Test Gov CA, CN=Test SM2 Sub CA",
    ]
    assert again[0].id == added[0].id
    assert added[0].fingerprint_sm3 == sm3(pem_to_der_list(root_pem)[0]).hex()
    with db() as s:
        anchors = service.list_trust_anchors(session=s)
        assert [a.source for a in anchors] == ["own", "imported", "imported"]
        ders = service.trust_anchors_der(session=s)
    assert ders[0] == ca.init.root.der
    assert log_kinds(db).count("trust_list.anchor_added") == 3
    signer = pem_to_der_list(
        shared_path("vectors", "openssl_sm2_chain", "signer.pem").read_bytes()
    )[0]
    policy = leaf_policy(Profile.SEAL_HOLDER)
    result = validate_chain(
        leaf=signer,
        intermediates=[],
        trust_anchors=ders,
        at=clock.now(),
        policy=type(policy)(frozenset({"digital_signature"}), frozenset(), False, False, True),
        revocation=None,
    )
    assert result.valid  # the imported sub-CA anchors the signer directly


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (b"nothing here", "no certificate"),
        (b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "base64"),
        (b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n", "cannot be parsed"),
    ],
)
def test_bad_anchor_input(
    ca: CaFixture, session: Session, clock: FixedClock, blob: bytes, why: str
) -> None:
    with pytest.raises(BadTrustAnchor, match=why):
        service.add_trust_anchor(session=session, clock=clock, pem=blob, actor="t")


def test_end_entity_certificate_is_not_an_anchor(
    ca: CaFixture, session: Session, clock: FixedClock
) -> None:
    signer_pem = shared_path("vectors", "openssl_sm2_chain", "signer.pem").read_bytes()
    with pytest.raises(BadTrustAnchor, match="not a CA"):
        service.add_trust_anchor(session=session, clock=clock, pem=signer_pem, actor="t")
