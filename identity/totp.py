"""TOTP (RFC 6238) over HOTP (RFC 4226), pure.

Defaults for authenticator-app compatibility: HMAC-SHA-1, 6 digits, 30-second steps, T0 = 0
(RFC 6238 §4; the Key Uri Format of authenticator apps assumes these). Verification accepts
``leeway`` steps either side (default 1, RFC 6238 §5.2 "at most one time step" of network delay)
and refuses any step at or before ``last_used_step``, so a code is accepted once (§5.2: "the
verifier MUST NOT accept the second attempt of the same OTP").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from urllib.parse import quote, urlencode

from trust.crypto import constant_time_equal
from trust.errors import InvalidInput

__all__ = [
    "DEFAULT_DIGITS",
    "DEFAULT_LEEWAY_STEPS",
    "DEFAULT_STEP_SECONDS",
    "SECRET_BYTES",
    "TotpAlgorithm",
    "TotpParameters",
    "hotp",
    "new_totp_secret",
    "provisioning_uri",
    "step_at",
    "totp",
    "verify_totp",
]

TotpAlgorithm = Literal["SHA1", "SHA256", "SHA512"]
DEFAULT_DIGITS: Final = 6
DEFAULT_STEP_SECONDS: Final = 30
DEFAULT_LEEWAY_STEPS: Final = 1
#: 160-bit secrets (RFC 4226 §4 R6 recommends 160 bits).
SECRET_BYTES: Final = 20
_HASHES: Final = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


@dataclass(frozen=True, slots=True)
class TotpParameters:
    algorithm: TotpAlgorithm = "SHA1"
    digits: int = DEFAULT_DIGITS
    step_seconds: int = DEFAULT_STEP_SECONDS

    def __post_init__(self) -> None:
        if self.algorithm not in _HASHES or not 6 <= self.digits <= 8 or self.step_seconds < 1:
            raise InvalidInput("TOTP 参数无效", code="identity.totp_parameters")


def new_totp_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: TotpAlgorithm = "SHA1") -> str:
    """RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits, zero-padded."""
    mac = hmac.new(secret, counter.to_bytes(8, "big"), _HASHES[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def step_at(at: datetime | int, params: TotpParameters = TotpParameters()) -> int:
    """RFC 6238 §4.2: T = floor((unix time - T0) / X), T0 = 0."""
    seconds = int(at.timestamp()) if isinstance(at, datetime) else at
    return seconds // params.step_seconds


def totp(secret: bytes, at: datetime | int, params: TotpParameters = TotpParameters()) -> str:
    return hotp(secret, step_at(at, params), digits=params.digits, algorithm=params.algorithm)


def verify_totp(
    secret: bytes,
    unverified_code: str,
    *,
    at: datetime,
    last_used_step: int | None,
    leeway: int = DEFAULT_LEEWAY_STEPS,
    params: TotpParameters = TotpParameters(),
) -> int | None:
    """The matching step (to store as the new ``last_used_step``) or ``None``.

    Every candidate step is computed and compared in constant time, so the time taken does not
    depend on which step (if any) matched.
    """
    code = unverified_code.strip()
    if len(code) != params.digits or not code.isdigit():
        return None
    now_step = step_at(at, params)
    matched: int | None = None
    for step in range(now_step - leeway, now_step + leeway + 1):
        candidate = hotp(secret, step, digits=params.digits, algorithm=params.algorithm)
        if constant_time_equal(candidate, code) and matched is None:
            matched = step
    if matched is None or (last_used_step is not None and matched <= last_used_step):
        return None
    return matched


def provisioning_uri(
    secret: bytes, *, account: str, issuer: str, params: TotpParameters = TotpParameters()
) -> str:
    """``otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=…&digits=…&period=…``."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": base64.b32encode(secret).decode("ascii").rstrip("="),
            "issuer": issuer,
            "algorithm": params.algorithm,
            "digits": params.digits,
            "period": params.step_seconds,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
