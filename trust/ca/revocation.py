"""Revocation: revoke with a reason, certificate status, CRL publication (RFC 5280 §3.3, §5).

Revocation is permanent (no certificateHold). A CRL lists every certificate the issuer revoked,
carries an increasing cRLNumber and a nextUpdate; ``current_crl`` serves the latest one while it
is fresh and still lists exactly the revoked set, and publishes a new one otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trust.ca._store import issuer_record, log, now_seconds, parse_serial
from trust.ca.crl import RevokedEntry, assemble_crl, build_tbs_crl, normalise_reason, parse_crl
from trust.ca.errors import AlreadyRevoked, CannotRevokeRoot, CertificateNotFound, IssuerKeyMismatch
from trust.ca.model import CaCertificate, CaCrl
from trust.ca.path import RevocationState, RevocationStatus
from trust.ca.profiles import Profile
from trust.ca.records import CertificateStatus
from trust.ca.signatures import sm2_signature_problem
from trust.ca.x509 import CertificateFacts, parse_certificate
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3
from trust.signing import Signer

__all__ = [
    "DEFAULT_CRL_LIFETIME",
    "StoredRevocation",
    "build_crl",
    "certificate_status",
    "current_crl",
    "revoke",
]

#: nextUpdate - thisUpdate of every CRL published here.
DEFAULT_CRL_LIFETIME: Final = timedelta(days=1)
#: ``current_crl`` publishes a new CRL when the latest one has less than this left.
_REFRESH_MARGIN: Final = timedelta(hours=6)


def _status(row: CaCertificate, at: datetime) -> CertificateStatus:
    return CertificateStatus(
        serial=row.serial,
        status=row.status,
        revoked_at=row.revoked_at,
        reason=row.revocation_reason,
        expired=at > row.not_after,
        subject=row.subject,
        issuer=row.issuer,
        profile=row.profile,
        not_before=row.not_before,
        not_after=row.not_after,
    )


def certificate_status(*, session: Session, clock: Clock, serial: str) -> CertificateStatus:
    """Status of a certificate this CA issued; ``ca.certificate_not_found`` otherwise."""
    row = session.get(CaCertificate, parse_serial(serial))
    if row is None:
        raise CertificateNotFound(f"no certificate with serial {serial}")
    return _status(row, clock.now())


def revoke(
    *, session: Session, clock: Clock, serial: str, reason: str, actor: str
) -> CertificateStatus:
    """Revoke a certificate now with an RFC 5280 §5.3.1 reason; appends
    ``ca.certificate_revoked``."""
    canonical = parse_serial(serial)
    reason_name = normalise_reason(reason)
    row = session.scalars(
        select(CaCertificate).where(CaCertificate.serial == canonical).with_for_update()
    ).first()
    if row is None:
        raise CertificateNotFound(f"no certificate with serial {serial}")
    if row.profile == Profile.ROOT_CA.value:
        raise CannotRevokeRoot("the root certificate is withdrawn from the trust list, not revoked")
    if row.status == "revoked":
        raise AlreadyRevoked(f"certificate {canonical} was revoked at {row.revoked_at}")
    row.status = "revoked"
    row.revoked_at = now_seconds(clock)
    row.revocation_reason = reason_name
    session.flush()
    log(
        session,
        clock,
        kind="ca.certificate_revoked",
        subject=canonical,
        actor=actor,
        payload={
            "serial": canonical,
            "reason": reason_name,
            "revoked_at": row.revoked_at.isoformat(),
            "issuer_serial": row.issuer_serial,
        },
    )
    return _status(row, clock.now())


def _revoked_entries(session: Session, issuer_serial: str) -> list[RevokedEntry]:
    rows = session.scalars(
        select(CaCertificate).where(
            CaCertificate.issuer_serial == issuer_serial, CaCertificate.status == "revoked"
        )
    )
    return [
        RevokedEntry(int(r.serial, 16), r.revoked_at, r.revocation_reason or "unspecified")
        for r in rows
        if r.revoked_at is not None
    ]


def build_crl(
    *,
    session: Session,
    clock: Clock,
    issuer_signer: Signer,
    lifetime: timedelta = DEFAULT_CRL_LIFETIME,
    actor: str = "system",
) -> bytes:
    """Publish a new DER CRL of ``issuer_signer``'s CA with the next cRLNumber; appends
    ``ca.crl_published``."""
    now = now_seconds(clock)
    issuer_row = issuer_record(session, issuer_signer, at=now, lock=True)
    issuer = parse_certificate(issuer_row.der)
    last = session.scalar(
        select(func.max(CaCrl.crl_number)).where(CaCrl.issuer_serial == issuer_row.serial)
    )
    number = (last or 0) + 1
    entries = _revoked_entries(session, issuer_row.serial)
    tbs = build_tbs_crl(
        issuer=issuer.subject_name,
        issuer_spki_der=issuer.spki_der,
        this_update=now,
        next_update=now + lifetime,
        crl_number=number,
        revoked=entries,
    )
    tbs_der = tbs.dump()
    signature = issuer_signer.sign(tbs_der)
    if sm2_signature_problem(public_key_der=issuer.spki_der, data=tbs_der, signature=signature):
        raise IssuerKeyMismatch(f"CRL signature by key {issuer_signer.key_id} does not verify")
    der = assemble_crl(tbs, signature)
    session.add(
        CaCrl(
            issuer_serial=issuer_row.serial,
            crl_number=number,
            this_update=now,
            next_update=now + lifetime,
            der=der,
        )
    )
    session.flush()
    log(
        session,
        clock,
        kind="ca.crl_published",
        subject=issuer_row.serial,
        actor=actor,
        payload={
            "issuer_serial": issuer_row.serial,
            "crl_number": number,
            "this_update": now.isoformat(),
            "next_update": (now + lifetime).isoformat(),
            "revoked": len(entries),
            "crl_sm3": sm3(der).hex(),
        },
    )
    return der


def current_crl(
    *, session: Session, clock: Clock, issuer_signer: Signer, actor: str = "system"
) -> bytes:
    """The latest CRL of the issuer if it is fresh and lists exactly the revoked certificates;
    otherwise a newly published one."""
    now = clock.now()
    issuer_row = issuer_record(session, issuer_signer, at=now_seconds(clock))
    latest = session.scalars(
        select(CaCrl)
        .where(CaCrl.issuer_serial == issuer_row.serial)
        .order_by(CaCrl.crl_number.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.next_update - now > _REFRESH_MARGIN:
        listed = set(parse_crl(latest.der).entries)
        revoked = {e.serial_number for e in _revoked_entries(session, issuer_row.serial)}
        if listed == revoked:
            return latest.der
    return build_crl(session=session, clock=clock, issuer_signer=issuer_signer, actor=actor)


class StoredRevocation:
    """A ``trust.ca.path.RevocationSource`` over this CA's own records: authoritative for the
    certificates it issued (byte-identical DER), ``UNKNOWN`` for every other certificate."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def status(self, certificate: CertificateFacts, issuer: CertificateFacts) -> RevocationStatus:
        row = self._session.get(CaCertificate, format(certificate.serial_number, "x"))
        if row is None or not constant_time_equal(row.der, certificate.der):
            return RevocationStatus(RevocationState.UNKNOWN)
        if row.status == "revoked":
            return RevocationStatus(RevocationState.REVOKED, row.revoked_at, row.revocation_reason)
        return RevocationStatus(RevocationState.GOOD)
