"""RFC 8628 (OAuth 2.0 Device Authorization Grant) rules, pure: user codes, device codes,
verification URIs and the polling decision of the token endpoint.

* User code (§6.1): 8 characters from the 20 consonants ``BCDFGHJKLMNPQRSTVWXZ`` (no vowels,
  so no words; no digits, so no 0/O or 1/I confusion), shown as ``XXXX-XXXX``;
  20^8 ≈ 2^34.6 possibilities. With a 10-minute lifetime and the token endpoint's rate limit
  that is RFC 8628 §5.1's "brute force" margin. Entry is case-insensitive; dashes, spaces and
  other separators are ignored (§6.1 "the authorization server should ignore ... dashes").
* Device code: 256 bits from the CSPRNG, stored only as a SHA-256 digest.
* Polling (§3.5): ``authorization_pending`` while waiting, ``slow_down`` when the device polls
  sooner than the interval (the interval grows by 5 s for every later poll), ``access_denied``
  once the person refused, ``expired_token`` after ``expires_in``.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlencode

import qrcode
import qrcode.constants

__all__ = [
    "DEVICE_CODE_GRANT",
    "SLOW_DOWN_STEP",
    "USER_CODE_ALPHABET",
    "USER_CODE_LENGTH",
    "DeviceStatus",
    "PollOutcome",
    "PollResult",
    "format_user_code",
    "new_device_code",
    "new_user_code",
    "normalise_user_code",
    "poll",
    "qr_png",
    "verification_uri_complete",
]

DEVICE_CODE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH: Final = 8
#: RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
#: requests".
SLOW_DOWN_STEP: Final = 5
_SEPARATORS: Final = frozenset(" -_.\u3000\u2010\u2011\u2012\u2013\u2014\uff0d")


class DeviceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    #: Tokens were issued; the device code cannot be used again.
    CONSUMED = "consumed"


class PollOutcome(StrEnum):
    """The token endpoint's answer to one poll (RFC 8628 §3.5 error codes, or ``issue``)."""

    ISSUE = "issue"
    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    ACCESS_DENIED = "access_denied"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - an RFC 8628 error code
    #: Already exchanged: answered as ``invalid_grant`` (RFC 6749 §5.2).
    INVALID_GRANT = "invalid_grant"


@dataclass(frozen=True, slots=True)
class PollResult:
    outcome: PollOutcome
    #: The polling interval (seconds) from now on; larger after ``slow_down``.
    interval: int


def new_user_code() -> str:
    """A fresh user code in canonical (undashed) form."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def format_user_code(code: str) -> str:
    """``BCDFGHJK`` -> ``BCDF-GHJK`` for display."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalise_user_code(unverified: str) -> str | None:
    """Canonical form of what a person typed, or ``None`` if it cannot be a user code."""
    if not isinstance(unverified, str) or len(unverified) > 32:
        return None
    chars = [c for c in unverified.upper() if c not in _SEPARATORS]
    if len(chars) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in chars):
        return None
    return "".join(chars)


def new_device_code() -> str:
    return secrets.token_urlsafe(32)


def verification_uri_complete(verification_uri: str, user_code: str) -> str:
    """RFC 8628 §3.3.1: the verification URI with the user code (for the QR code)."""
    sep = "&" if "?" in verification_uri else "?"
    return f"{verification_uri}{sep}{urlencode({'user_code': format_user_code(user_code)})}"


def poll(
    *,
    status: DeviceStatus,
    now: datetime,
    expires_at: datetime,
    last_polled_at: datetime | None,
    interval: int,
) -> PollResult:
    """RFC 8628 §3.5 decision for one token request with this device code."""
    if status is DeviceStatus.CONSUMED:
        return PollResult(PollOutcome.INVALID_GRANT, interval)
    if now >= expires_at:
        return PollResult(PollOutcome.EXPIRED_TOKEN, interval)
    if status is DeviceStatus.DENIED:
        return PollResult(PollOutcome.ACCESS_DENIED, interval)
    if status is DeviceStatus.APPROVED:
        return PollResult(PollOutcome.ISSUE, interval)
    # §3.5 slow_down: "the client is polling too quickly" - sooner than the interval.
    if last_polled_at is not None and now - last_polled_at < timedelta(seconds=interval):
        return PollResult(PollOutcome.SLOW_DOWN, interval + SLOW_DOWN_STEP)
    return PollResult(PollOutcome.AUTHORIZATION_PENDING, interval)


def qr_png(text: str, *, box_size: int = 8) -> bytes:
    """A PNG of the QR code of ``text`` (error level M, 4-module quiet zone), for the kiosk."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4
    )
    qr.add_data(text.encode("utf-8"))
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return buffer.getvalue()
