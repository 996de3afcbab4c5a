"""Public verification (issue 5 item 3; elicence spec §9.1, §9.6, §9.7): by 核验码, by QR
(EL1 text or URL), by uploading the licence PDF.

* **Typed code** — normalised, HMAC-SM3 computed and looked up **always**, also for malformed
  input and wrong check characters (a fixed dummy code is MACed then), so an unknown and a
  wrong code take the same path and give the same ``NOT_FOUND`` body.
* **QR** — the current signed trust list (``licences.service_trust``, verified against the
  pinned trust-list key exactly as an offline verifier does it) gives the issuer keys, the EL1
  signature is checked against the key it lists for the kid (bound to the issuer's USCC), and
  only then is the live status of the identifier consulted.
* **PDF** — the seal signature is verified by the seals service (``seals.service_verify``); a
  file whose seal is not VALID is ``BAD_SIGNATURE``; a VALID one is matched to the record by SM3.

Every verification that reaches a licence is written to its 核验记录 (``licence_verification``),
which the holder can read. Results are frozen ``VerificationResult`` objects (fixed codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from licences.codes import code_digest, normalise_code
from licences.envelope import (
    CHINA_TZ,
    decode_el1,
    mask_holder_name,
    verify_envelope,
)
from licences.errors import CodeInvalid, EnvelopeMalformed, EnvelopeTooLarge, EnvelopeUnsupported
from licences.lifecycle import LicenceState
from licences.model import Licence, LicenceVerification
from licences.service_keys import LicenceConfig
from licences.service_trust import trusted_keys
from licences.verification import (
    MinimalView,
    Result,
    VerificationResult,
    envelope_result,
)
from seals import service_verify as seals_verify
from trust.clock import Clock
from trust.crypto import sm3
from trust.ids import new_id

__all__ = [
    "Verifier",
    "live_result",
    "verify_code",
    "verify_pdf",
    "verify_qr",
]

#: MACed in place of malformed input so that every request does the same work (spec §9.1).
_DUMMY_CODE: Final = "0000000000000000"
_ENDED: Final = {
    LicenceState.WITHDRAWN: "withdrawn",
    LicenceState.REVOKED: "revoked",
    LicenceState.REVOKED_PENALTY: "revoked_penalty",
    LicenceState.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class Verifier:
    """Who asked (for the holder's 核验记录): an authenticated client, and a truncated IP."""

    client: str | None = None
    ip: str | None = None

    @property
    def ip_hint(self) -> str | None:
        if not self.ip:
            return None
        if "." in self.ip:
            return ".".join(self.ip.split(".")[:3]) + ".*"
        return ":".join(self.ip.split(":")[:3]) + ":*"


def _today(now: datetime) -> date:
    return now.astimezone(CHINA_TZ).date()


def _view(row: Licence) -> MinimalView:
    return MinimalView(
        licence_name=row.licence_name,
        issuer_name=row.issuer_name,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        masked_holder_name=mask_holder_name(row.holder_name),
    )


def live_result(row: Licence, now: datetime) -> tuple[Result, str, str | None]:
    """The fixed result of a licence's current record: (result, reason, superseded_by)."""
    state = LicenceState(row.status)
    if state is LicenceState.SUSPENDED:
        return Result.SUSPENDED, "suspended", None
    if state is LicenceState.SUPERSEDED:
        return Result.SUPERSEDED, "superseded", row.superseded_by
    if state is LicenceState.EXPIRED:
        return Result.EXPIRED, "licence_expired", None
    if state in _ENDED:
        return Result.INVALID, _ENDED[state], None
    today = _today(now)
    if row.valid_until is not None and today > row.valid_until:
        return Result.EXPIRED, "licence_expired", None
    if today < row.valid_from:
        return Result.INVALID, "not_yet_valid", None
    return Result.VALID, "ok", None


def _record(
    session: Session, now: datetime, row: Licence, channel: str, result: Result, who: Verifier
) -> None:
    session.add(
        LicenceVerification(
            id=new_id("lvf"),
            licence_id=row.id,
            channel=channel,
            result=result.value,
            client=who.client,
            ip_hint=who.ip_hint,
            at=now,
        )
    )


def _from_record(
    session: Session,
    now: datetime,
    row: Licence,
    channel: str,
    who: Verifier,
    *,
    signature_checked: bool,
    identifier: str | None,
) -> VerificationResult:
    result, reason, newer = live_result(row, now)
    _record(session, now, row, channel, result, who)
    return VerificationResult(
        result=result,
        reason=reason,
        channel=channel,
        checked_at=now,
        view=_view(row),
        superseded_by=newer,
        identifier=identifier,
        signature_checked=signature_checked,
        live_status=True,
    )


def verify_code(
    *, session: Session, clock: Clock, config: LicenceConfig, raw_code: str, who: Verifier
) -> VerificationResult:
    """By 核验码 (live status). Unknown, malformed and wrong codes give one NOT_FOUND body."""
    now = clock.now()
    try:
        code = normalise_code(raw_code)
        well_formed = True
    except CodeInvalid:
        code, well_formed = normalise_code(_DUMMY_CODE), False
    digest = code_digest(config.code_key, code)
    row = session.scalars(select(Licence).where(Licence.code_digest == digest)).one_or_none()
    if row is None or not well_formed:
        return VerificationResult(Result.NOT_FOUND, "not_found", "code", now)
    return _from_record(session, now, row, "code", who, signature_checked=False, identifier=None)


def verify_qr(
    *, session: Session, clock: Clock, keystore: KeyStore, text: str, who: Verifier
) -> VerificationResult:
    """By QR text (``EL1:`` or the URL form): offline signature check, then live status."""
    now = clock.now()

    def bad(reason: str) -> VerificationResult:
        return VerificationResult(Result.BAD_SIGNATURE, reason, "qr", now)

    try:
        envelope = decode_el1(text.strip())
    except EnvelopeUnsupported:
        return bad("unsupported_version")
    except (EnvelopeMalformed, EnvelopeTooLarge):
        return bad("unreadable")
    trusted = trusted_keys(session=session, clock=clock, keystore=keystore)
    checked = verify_envelope(envelope, trusted, now)
    result, reason = envelope_result(checked)
    payload = checked.payload
    if payload is None or result in (Result.BAD_SIGNATURE, Result.UNKNOWN_ISSUER):
        return VerificationResult(result, reason, "qr", now, signature_checked=True)
    row = session.scalars(
        select(Licence).where(Licence.identifier == payload.identifier)
    ).one_or_none()
    if row is None:
        return VerificationResult(Result.NOT_FOUND, "no_record", "qr", now, signature_checked=True)
    if payload.document_sm3 is not None and payload.document_sm3.hex() != row.document_sm3:
        _record(session, now, row, "qr", Result.INVALID, who)
        return VerificationResult(
            Result.INVALID, "document_mismatch", "qr", now, _view(row), signature_checked=True
        )
    if result is not Result.VALID:  # EXPIRED / not yet valid by the signed dates
        _record(session, now, row, "qr", result, who)
        return VerificationResult(
            result,
            reason,
            "qr",
            now,
            _view(row),
            identifier=row.identifier,
            signature_checked=True,
        )
    return _from_record(
        session, now, row, "qr", who, signature_checked=True, identifier=row.identifier
    )


def verify_pdf(*, session: Session, clock: Clock, data: bytes, who: Verifier) -> VerificationResult:
    """By the licence PDF: the seal through the seals service, then the record by SM3."""
    now = clock.now()
    report = seals_verify.verify_file(data, "licence.pdf", session=session, clock=clock)
    details = (("seal_verdict", str(report["verdict"])), ("seal_reason", str(report["reason"])))
    if report["verdict"] != "VALID":
        return VerificationResult(
            Result.BAD_SIGNATURE, f"seal_{report['reason']}", "pdf", now, details=details
        )
    row = session.scalars(
        select(Licence).where(Licence.document_sm3 == sm3(data).hex())
    ).one_or_none()
    if row is None:
        return VerificationResult(
            Result.NOT_FOUND, "no_record", "pdf", now, signature_checked=True, details=details
        )
    out = _from_record(
        session, now, row, "pdf", who, signature_checked=True, identifier=row.identifier
    )
    return VerificationResult(
        out.result,
        out.reason,
        out.channel,
        out.checked_at,
        out.view,
        out.superseded_by,
        out.identifier,
        True,
        True,
        details,
    )
