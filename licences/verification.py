"""Public verification of licences: fixed result codes, the minimal view, and the signed trust
list of issuer keys (pure; elicence spec §9.1, §9.6–9.8).

Result codes (spec §9.7, as issue 5 fixes them): ``VALID``, ``SUSPENDED``, ``INVALID`` (with a
reason), ``SUPERSEDED`` (with the newer identifier), ``EXPIRED``, ``BAD_SIGNATURE``,
``UNKNOWN_ISSUER``, ``NOT_FOUND``. A QR text that cannot be decoded at all (Base45/zlib/CBOR
broken by a changed byte) is ``BAD_SIGNATURE`` with reason ``unreadable``: its integrity could
not be established, which is what the verifier must say; an unknown prefix or version gives
``BAD_SIGNATURE`` with reason ``unsupported_version`` (never a bare "invalid", §9.7).

Minimal view (§9.6): 证照名称, 颁证单位, 有效期, status, masked 持证主体 — nothing else, and
for ``NOT_FOUND`` nothing at all (the same body for an unknown and a wrong code).

Trust list (§9.8): a COSE_Sign1 (content type ``TRUST_LIST_CONTENT_TYPE``, so it can never pass
as a licence or a status list) signed by the service's trust-list key; payload::

    { 1: ver (1), 2: sequence, 3: iat (s), 4: [ [kid, point(65), [issuer USCC…], issuer name] … ],
      5: exp (s) }

Offline verifiers (the browser page, ``trustctl licence verify``) verify it against the pinned
trust-list key, refuse it before ``iat`` (less the clock-skew allowance) and after ``exp``
(spec §9.8: "offline verifiers refresh it at least daily"; the service re-signs it daily and
gives it ``TRUST_LIST_VALIDITY``), then verify EL1 envelopes against the keys it lists, each
bound to its issuers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import cbor2

from licences.envelope import (
    CLOCK_SKEW,
    EnvelopeReason,
    EnvelopeStatus,
    EnvelopeVerification,
    IssuerKey,
    SignFn,
    TrustedKeys,
    decode_cose,
    int_keyed_map,
    sign_cose,
    verify_cose_signature,
)
from licences.errors import EnvelopeMalformed, EnvelopeTooLarge, EnvelopeUnsupported
from trust.crypto import SM2PublicKey
from trust.errors import InvalidInput, VerificationFailed

__all__ = [
    "TRUST_LIST_CONTENT_TYPE",
    "TRUST_LIST_VALIDITY",
    "MinimalView",
    "Result",
    "TrustListEntry",
    "TrustListToken",
    "VerificationResult",
    "envelope_result",
    "sign_trust_list",
    "verify_trust_list",
]

TRUST_LIST_CONTENT_TYPE: Final = "application/el1-trust+cbor"
#: How long a signed trust list may be used (spec §9.8 asks for a daily refresh; a week lets a
#: verifier that missed a few refreshes keep working, and then stops it).
TRUST_LIST_VALIDITY: Final = timedelta(days=7)
_TRUST_LIST_VERSION: Final = 1
_MAX_TRUST_LIST: Final = 256 * 1024
_MAX_ENTRIES: Final = 4096
_MAX_SECONDS: Final = 253402300800  # 10000-01-01T00:00:00Z


class Result(StrEnum):
    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    INVALID = "INVALID"
    SUPERSEDED = "SUPERSEDED"
    EXPIRED = "EXPIRED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    NOT_FOUND = "NOT_FOUND"


RESULT_ZH: Final = {
    Result.VALID: "有效",
    Result.SUSPENDED: "暂扣",
    Result.INVALID: "无效",
    Result.SUPERSEDED: "已变更，有新版本",
    Result.EXPIRED: "已过期",
    Result.BAD_SIGNATURE: "签名无效或数据被篡改",
    Result.UNKNOWN_ISSUER: "颁证单位不在信任列表中",
    Result.NOT_FOUND: "未找到该证照",
}


@dataclass(frozen=True, slots=True)
class MinimalView:
    """What the public may see (spec §9.6)."""

    licence_name: str
    issuer_name: str
    valid_from: date
    valid_until: date | None  # None = 长期有效
    masked_holder_name: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "licence_name": self.licence_name,
            "issuer_name": self.issuer_name,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "holder_name": self.masked_holder_name,
        }


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """One verification's outcome.

    ``result``: the fixed code. ``reason``: why (``ok``, ``revoked``, ``signature_mismatch``,
    ``unknown_kid`` ...). ``superseded_by``: the newer identifier for SUPERSEDED. ``view``: the
    minimal view, absent for NOT_FOUND / BAD_SIGNATURE / UNKNOWN_ISSUER. ``identifier``: only
    for channels where the verifier already holds it (QR, PDF). ``signature_checked``: an SM2
    signature (EL1 envelope or the seal on the PDF) verified; ``live_status``: the record's
    current status was consulted."""

    result: Result
    reason: str
    channel: str
    checked_at: datetime
    view: MinimalView | None = None
    superseded_by: str | None = None
    identifier: str | None = None
    signature_checked: bool = False
    live_status: bool = False
    details: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "result_zh": RESULT_ZH[self.result],
            "reason": self.reason,
            "channel": self.channel,
            "checked_at": self.checked_at.astimezone(UTC).isoformat(),
            "licence": None if self.view is None else self.view.to_dict(),
            "superseded_by": self.superseded_by,
            "identifier": self.identifier,
            "signature_checked": self.signature_checked,
            "live_status": self.live_status,
            "details": dict(self.details),
        }


def envelope_result(verification: EnvelopeVerification) -> tuple[Result, str]:
    """Map an offline envelope check to the fixed codes (before live status is consulted)."""
    s = verification.status
    if s is EnvelopeStatus.VALID:
        return Result.VALID, EnvelopeReason.OK.value
    if s is EnvelopeStatus.UNKNOWN_ISSUER:
        return Result.UNKNOWN_ISSUER, verification.reason.value
    if s is EnvelopeStatus.EXPIRED:
        return Result.EXPIRED, verification.reason.value
    if s is EnvelopeStatus.NOT_YET_VALID:
        return Result.INVALID, verification.reason.value
    # BAD_SIGNATURE, UNREADABLE and UNSUPPORTED_VERSION: integrity not established.
    return Result.BAD_SIGNATURE, verification.reason.value


# --------------------------------------------------------------------------- trust list


@dataclass(frozen=True, slots=True)
class TrustListEntry:
    kid: bytes
    public_key: SM2PublicKey
    issuer_codes: tuple[str, ...]
    issuer_name: str


@dataclass(frozen=True, slots=True)
class TrustListToken:
    sequence: int
    issued_at: datetime
    entries: tuple[TrustListEntry, ...]
    expires_at: datetime

    def trusted_keys(self) -> TrustedKeys:
        """kid → key bound to its issuer codes (first entry wins on a kid collision)."""
        out: dict[bytes, SM2PublicKey | IssuerKey] = {}
        for e in self.entries:
            out.setdefault(e.kid, IssuerKey(e.public_key, frozenset(e.issuer_codes)))
        return out

    def issuer_names(self) -> dict[str, str]:
        return {code: e.issuer_name for e in self.entries for code in e.issuer_codes}


def sign_trust_list(
    entries: Sequence[TrustListEntry],
    *,
    sequence: int,
    issued_at: datetime,
    expires_at: datetime,
    kid: bytes,
    sign: SignFn,
) -> bytes:
    if expires_at <= issued_at:
        raise InvalidInput("trust list must expire after it is issued")
    payload = {
        1: _TRUST_LIST_VERSION,
        2: sequence,
        3: int(issued_at.timestamp()),
        4: [[e.kid, e.public_key.point, list(e.issuer_codes), e.issuer_name] for e in entries],
        5: int(expires_at.timestamp()),
    }
    return sign_cose(
        cbor2.dumps(payload, canonical=True),
        kid=kid,
        sign=sign,
        content_type=TRUST_LIST_CONTENT_TYPE,
    )


def _bad_list(detail: str) -> VerificationFailed:
    return VerificationFailed(detail, code="licence.trust_list.invalid")


def _entry(raw: Any) -> TrustListEntry:
    if type(raw) is not list or len(raw) != 4:
        raise _bad_list("trust list entry is not [kid, key, issuers, name]")
    kid, point, codes, name = raw
    if type(kid) is not bytes or len(kid) != 8 or type(point) is not bytes:
        raise _bad_list("trust list entry has a bad kid or key")
    if type(codes) is not list or not all(type(c) is str for c in codes) or type(name) is not str:
        raise _bad_list("trust list entry has bad issuer codes or name")
    try:
        key = SM2PublicKey.from_point(point)
    except InvalidInput:
        raise _bad_list("trust list entry key is not an SM2 point") from None
    return TrustListEntry(kid, key, tuple(codes), name)


def verify_trust_list(data: bytes, anchor: SM2PublicKey, *, now: datetime) -> TrustListToken:
    """Verify a trust list under the pinned ``anchor`` key, parse it and check that ``now``
    lies in its validity (``iat`` − ``CLOCK_SKEW`` … ``exp``). A trust list that does not
    verify cannot be used at all, so this raises ``VerificationFailed``
    (``licence.trust_list.invalid``, ``.not_yet_valid``, ``.expired``) rather than returning a
    result: without a trust list there is nothing to verify envelopes against (fail closed)."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise VerificationFailed("verification time must be timezone-aware")
    try:
        cose = decode_cose(data, content_type=TRUST_LIST_CONTENT_TYPE, max_bytes=_MAX_TRUST_LIST)
    except (EnvelopeMalformed, EnvelopeUnsupported, EnvelopeTooLarge) as exc:
        raise _bad_list(f"not a trust list: {exc.detail}") from None
    if verify_cose_signature(cose, anchor) is not None:
        raise _bad_list("trust list signature does not verify under the pinned key")
    try:
        m: Any = cbor2.loads(cose.unverified_payload, max_depth=5, allow_indefinite=False)
    except Exception:  # cbor2 raises assorted errors on hostile input
        raise _bad_list("trust list payload is not CBOR") from None
    if not int_keyed_map(m) or set(m) != {1, 2, 3, 4, 5} or m[1] != _TRUST_LIST_VERSION:
        raise _bad_list("trust list payload has the wrong shape or version")
    if any(type(m[k]) is not int for k in (2, 3, 5)) or type(m[4]) is not list:
        raise _bad_list("trust list payload members have the wrong types")
    if not 0 <= m[3] < m[5] < _MAX_SECONDS:
        raise _bad_list("trust list validity is out of range")
    if len(m[4]) > _MAX_ENTRIES:
        raise _bad_list("trust list has too many entries")
    token = TrustListToken(
        sequence=m[2],
        issued_at=datetime.fromtimestamp(m[3], UTC),
        entries=tuple(_entry(e) for e in m[4]),
        expires_at=datetime.fromtimestamp(m[5], UTC),
    )
    # Spec §9.8: a trust list is refreshed at least daily; one outside its validity is refused.
    if now + CLOCK_SKEW < token.issued_at:
        raise VerificationFailed(
            "trust list is not yet valid", code="licence.trust_list.not_yet_valid"
        )
    if now > token.expires_at:
        raise VerificationFailed("trust list has expired", code="licence.trust_list.expired")
    return token
