"""Issuing certificates: the CA hierarchy (``init_ca``) and end-entity certificates.

RFC 5280 §4.1 / §4.2 certificates signed with SM2-with-SM3 (GB/T 20518-2018). The root is
self-signed for 20 years (CA:TRUE, keyCertSign + cRLSign); the issuing CA is signed by the root
for 10 years with pathLenConstraint 0 (§4.2.1.9), so it can only issue end-entity certificates.
Every signature is verified with the issuer's public key before the certificate is stored, and
every issuance appends ``ca.certificate_issued`` in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from asn1crypto import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trust.ca._store import issuer_record, log, now_seconds, require_sm2, serial_hex, to_issued
from trust.ca.anchors import insert_anchor
from trust.ca.csr import verify_csr
from trust.ca.errors import (
    BadValidity,
    CaAlreadyInitialised,
    IssuerKeyMismatch,
    ProfileNotAllowed,
)
from trust.ca.model import CaAuthority, CaCertificate
from trust.ca.names import SubjectName
from trust.ca.profiles import Profile, parse_profile, spec_for
from trust.ca.records import CaInitialised, IssuedCertificate
from trust.ca.signatures import sm2_signature_problem
from trust.ca.x509 import (
    assemble_certificate,
    build_extensions,
    build_tbs_certificate,
    new_serial_number,
    parse_certificate,
    sm2_spki,
)
from trust.clock import Clock
from trust.crypto import sm3
from trust.errors import InvalidInput
from trust.signing import Signer

__all__ = ["init_ca", "issue_certificate", "issue_from_csr"]


def _sign_and_store(
    session: Session,
    clock: Clock,
    *,
    signer: Signer,
    issuer_spki: bytes,
    issuer_serial: str | None,
    issuer_name: x509.Name,
    subject_name: x509.Name,
    subject_spki: bytes,
    profile: Profile,
    not_before: datetime,
    not_after: datetime,
    key_id: str | None,
    crl_url: str | None,
    actor: str,
) -> IssuedCertificate:
    spec = spec_for(profile)
    extensions = build_extensions(
        spec=spec, subject_spki_der=subject_spki, issuer_spki_der=issuer_spki, crl_url=crl_url
    )
    tbs = build_tbs_certificate(
        serial_number=new_serial_number(),
        issuer=issuer_name,
        subject=subject_name,
        spki_der=subject_spki,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
    tbs_der = tbs.dump()
    signature = signer.sign(tbs_der)
    if sm2_signature_problem(public_key_der=issuer_spki, data=tbs_der, signature=signature):
        raise IssuerKeyMismatch(
            f"signature by key {signer.key_id} does not verify with the issuer key"
        )
    der = assemble_certificate(tbs, signature)
    facts = parse_certificate(der)
    row = CaCertificate(
        serial=serial_hex(facts.serial_number),
        issuer_serial=issuer_serial,
        subject=facts.subject,
        issuer=facts.issuer,
        profile=profile.value,
        key_id=key_id,
        spki_sm3=sm3(facts.spki_der).hex(),
        not_before=facts.not_before,
        not_after=facts.not_after,
        der=der,
        status="good",
        issued_at=clock.now(),
        issued_by=actor,
    )
    session.add(row)
    session.flush()
    log(
        session,
        clock,
        kind="ca.certificate_issued",
        subject=row.serial,
        actor=actor,
        payload={
            "serial": row.serial,
            "profile": row.profile,
            "subject": row.subject,
            "issuer": row.issuer,
            "issuer_serial": issuer_serial,
            "key_id": key_id,
            "not_before": row.not_before.isoformat(),
            "not_after": row.not_after.isoformat(),
            "certificate_sm3": sm3(der).hex(),
        },
    )
    return to_issued(row)


def init_ca(
    *,
    session: Session,
    clock: Clock,
    root_signer: Signer,
    issuing_signer: Signer,
    name: str,
    crl_url: str | None = None,
    actor: str = "system",
) -> CaInitialised:
    """Create the self-signed root and the issuing CA, and put the root on the trust list.

    ``crl_url`` (e.g. ``<public_base_url>/ca/crl``) goes into every end-entity certificate the
    issuing CA signs. Refused with ``ca.already_initialised`` when a CA exists."""
    if session.scalar(select(func.count()).select_from(CaAuthority)):
        raise CaAlreadyInitialised("the CA hierarchy already exists")
    require_sm2(root_signer)
    require_sm2(issuing_signer)
    if root_signer.key_id == issuing_signer.key_id:
        raise InvalidInput("root and issuing CA need different keys", code="ca.same_key")
    now = now_seconds(clock)
    root_spki = sm2_spki(root_signer.public_key_der())
    issuing_spki = sm2_spki(issuing_signer.public_key_der())
    root_name = SubjectName.create(common_name=f"{name} 根CA", organization=name).to_asn1()
    root_spec = spec_for(Profile.ROOT_CA)
    root = _sign_and_store(
        session,
        clock,
        signer=root_signer,
        issuer_spki=root_spki,
        issuer_serial=None,
        issuer_name=root_name,
        subject_name=root_name,
        subject_spki=root_spki,
        profile=Profile.ROOT_CA,
        not_before=now,
        not_after=now + timedelta(days=root_spec.default_validity_days),
        key_id=root_signer.key_id,
        crl_url=None,
        actor=actor,
    )
    issuing_spec = spec_for(Profile.ISSUING_CA)
    issuing = _sign_and_store(
        session,
        clock,
        signer=root_signer,
        issuer_spki=root_spki,
        issuer_serial=root.serial,
        issuer_name=parse_certificate(root.der).subject_name,
        subject_name=SubjectName.create(common_name=f"{name} 签发CA", organization=name).to_asn1(),
        subject_spki=issuing_spki,
        profile=Profile.ISSUING_CA,
        not_before=now,
        not_after=min(now + timedelta(days=issuing_spec.default_validity_days), root.not_after),
        key_id=issuing_signer.key_id,
        crl_url=None,
        actor=actor,
    )
    created = clock.now()
    session.add(
        CaAuthority(
            role="root",
            serial=root.serial,
            key_id=root_signer.key_id,
            crl_url=None,
            created_at=created,
        )
    )
    session.add(
        CaAuthority(
            role="issuing",
            serial=issuing.serial,
            key_id=issuing_signer.key_id,
            crl_url=crl_url,
            created_at=created,
        )
    )
    session.flush()
    insert_anchor(session, clock, der=root.der, source="own", label="本系统根证书", actor=actor)
    return CaInitialised(root=root, issuing=issuing)


def issue_certificate(
    *,
    session: Session,
    clock: Clock,
    issuer_signer: Signer,
    subject_public_key_der: bytes,
    subject: SubjectName | Mapping[str, str],
    profile: Profile | str,
    key_id: str | None = None,
    validity_days: int | None = None,
    actor: str,
) -> IssuedCertificate:
    """Issue an end-entity certificate of ``profile`` for an SM2 public key (SPKI DER).

    ``key_id`` records the keystore key when the key is one of ours. The validity is the
    profile's default unless given, never beyond the issuer's own ``notAfter``."""
    chosen = parse_profile(profile) if isinstance(profile, str) else profile
    spec = spec_for(chosen)
    if spec.is_ca:
        raise ProfileNotAllowed(f"profile {chosen.value} is created only by CA initialisation")
    name = subject if isinstance(subject, SubjectName) else SubjectName.from_mapping(subject)
    days = spec.default_validity_days if validity_days is None else validity_days
    if not 1 <= days <= spec.max_validity_days:
        raise BadValidity(f"validity must be 1..{spec.max_validity_days} days for {chosen.value}")
    spki = sm2_spki(subject_public_key_der)
    now = now_seconds(clock)
    issuer_row = issuer_record(session, issuer_signer, at=now)
    issuer = parse_certificate(issuer_row.der)
    authority = session.scalars(
        select(CaAuthority).where(CaAuthority.serial == issuer_row.serial)
    ).first()
    return _sign_and_store(
        session,
        clock,
        signer=issuer_signer,
        issuer_spki=issuer.spki_der,
        issuer_serial=issuer_row.serial,
        issuer_name=issuer.subject_name,
        subject_name=name.to_asn1(),
        subject_spki=spki,
        profile=chosen,
        not_before=now,
        not_after=min(now + timedelta(days=days), issuer.not_after),
        key_id=key_id,
        crl_url=authority.crl_url if authority else None,
        actor=actor,
    )


def issue_from_csr(
    *,
    session: Session,
    clock: Clock,
    issuer_signer: Signer,
    csr: bytes | str,
    profile: Profile | str,
    subject: SubjectName | Mapping[str, str] | None = None,
    validity_days: int | None = None,
    actor: str,
) -> IssuedCertificate:
    """Issue from a PKCS#10 request after verifying its proof of possession (RFC 2986 §3).

    The subject is the requested one, re-checked attribute by attribute, unless ``subject``
    overrides it (a registration authority's decision)."""
    verified = verify_csr(csr)
    name = subject if subject is not None else SubjectName.from_asn1(verified.requested_subject)
    return issue_certificate(
        session=session,
        clock=clock,
        issuer_signer=issuer_signer,
        subject_public_key_der=verified.spki_der,
        subject=name,
        profile=profile,
        key_id=None,
        validity_days=validity_days,
        actor=actor,
    )
