"""Database helpers shared by the CA services (private to ``trust.ca``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trust.ca.errors import BadSerial, IssuerKeyMismatch, NotAnIssuer, UnsupportedAlgorithm
from trust.ca.model import CaCertificate
from trust.ca.profiles import Profile
from trust.ca.records import IssuedCertificate
from trust.ca.x509 import parse_certificate, sm2_spki
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.signing import SignatureAlgorithm, Signer
from trust.tlog import LogEvent, append

__all__ = [
    "CA_PROFILES",
    "issuer_record",
    "log",
    "now_seconds",
    "parse_serial",
    "require_sm2",
    "serial_hex",
    "to_issued",
]

CA_PROFILES = (Profile.ROOT_CA.value, Profile.ISSUING_CA.value)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def parse_serial(value: str | int) -> str:
    """Accept ``1a2b``, ``1A:2B``, ``0x1a2b`` (or an int) and return canonical lower-case hex."""
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().lower().replace(":", "")
        text = text.removeprefix("0x")
        if not text or len(text) > 40 or any(c not in "0123456789abcdef" for c in text):
            raise BadSerial("serial number must be hexadecimal (at most 20 octets)")
        number = int(text, 16)
    if number <= 0:
        raise BadSerial("serial number must be positive")
    return serial_hex(number)


def now_seconds(clock: Clock) -> datetime:
    """Certificate and CRL times have whole seconds (RFC 5280 §4.1.2.5.1 / .2)."""
    return clock.now().replace(microsecond=0)


def require_sm2(signer: Signer) -> None:
    if signer.algorithm is not SignatureAlgorithm.SM2_SM3:
        raise UnsupportedAlgorithm(
            f"CA keys must be SM2 (key {signer.key_id} is {signer.algorithm})"
        )


def to_issued(row: CaCertificate) -> IssuedCertificate:
    return IssuedCertificate(
        serial=row.serial,
        der=row.der,
        subject=row.subject,
        issuer=row.issuer,
        profile=Profile(row.profile),
        key_id=row.key_id,
        not_before=row.not_before,
        not_after=row.not_after,
    )


def issuer_record(
    session: Session, signer: Signer, *, at: datetime, lock: bool = False
) -> CaCertificate:
    """The CA certificate of ``signer``'s key, valid at ``at`` and not revoked; its public key
    must be the signer's (so a certificate can never name an issuer that did not sign it)."""
    require_sm2(signer)
    stmt = (
        select(CaCertificate)
        .where(
            CaCertificate.key_id == signer.key_id,
            CaCertificate.profile.in_(CA_PROFILES),
            CaCertificate.status == "good",
            CaCertificate.not_before <= at,
            CaCertificate.not_after > at,
        )
        .order_by(CaCertificate.not_before.desc(), CaCertificate.serial)
        .limit(1)
    )
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotAnIssuer(f"key {signer.key_id} has no valid CA certificate")
    cert_spki = parse_certificate(row.der).spki_der
    if not constant_time_equal(sm2_spki(signer.public_key_der()), sm2_spki(cert_spki)):
        raise IssuerKeyMismatch(f"key {signer.key_id} does not match its CA certificate")
    return row


def log(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    subject: str,
    actor: str,
    payload: Mapping[str, Any],
) -> None:
    """Append the evidence event in the caller's transaction (``trust.tlog``)."""
    append(session=session, clock=clock, event=LogEvent(kind, subject, actor, dict(payload)))
