"""SMS one-time codes (pure): generation and storage form.

Six decimal digits from the CSPRNG, valid for five minutes, at most five attempts. Only
``HMAC-SM3(code_mac key, challenge id || code)`` is stored: binding the challenge id means a
MAC copied to another row does not verify there. Checking is constant-time.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Final

from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "SMS_CODE_DIGITS",
    "SMS_CODE_MAX_ATTEMPTS",
    "SMS_CODE_TTL",
    "code_mac",
    "code_matches",
    "new_code",
]

SMS_CODE_DIGITS: Final = 6
SMS_CODE_TTL: Final = timedelta(minutes=5)
SMS_CODE_MAX_ATTEMPTS: Final = 5


def new_code() -> str:
    return str(secrets.randbelow(10**SMS_CODE_DIGITS)).zfill(SMS_CODE_DIGITS)


def code_mac(key: bytes, challenge_id: str, code: str) -> bytes:
    return hmac_sm3(key, challenge_id.encode("ascii") + b"|" + code.encode("utf-8"))


def code_matches(key: bytes, challenge_id: str, unverified_code: str, stored_mac: bytes) -> bool:
    code = unverified_code.strip()[:16]
    return constant_time_equal(code_mac(key, challenge_id, code), stored_mac)
