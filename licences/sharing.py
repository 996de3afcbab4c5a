"""Holder use and third parties (elicence spec §6, §9.6), pure rules:

* **share grants** (持证人用证 / 委托授权用证): which fields, purpose (事由) ≤ 200 characters,
  expiry ≤ 7 days, maximum uses ≥ 1, one named recipient (``user:…`` / ``client:…``); the
  share token is 256 bits from a CSPRNG and stored only as HMAC-SM3;
* **holder tokens** — the interim holder credential ("a bearer for now"):
  ``hld.<holder lookup, base32>.<expiry, Unix seconds>.<HMAC-SM3, base32>``, minted by an
  operator (``trustctl licence holder-token``) or, later, by the identity capability after a
  real-name login. Checked in constant time.

TODO(identity): replace holder tokens with the identity web session (``CurrentPersonDep``) and
compute the holder lookup from the person's verified citizen ID number.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from licences.service_errors import LicenceRequestInvalid
from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "MAX_SHARE_DAYS",
    "SHARE_STANDARD_FIELDS",
    "HolderToken",
    "ShareTerms",
    "check_share_terms",
    "mint_holder_token",
    "new_share_token",
    "read_holder_token",
    "share_digest",
]

MAX_SHARE_DAYS: Final = 7
MAX_PURPOSE: Final = 200
MAX_USES: Final = 100
#: Fields a grant may disclose besides the type's face fields.
SHARE_STANDARD_FIELDS: Final = ("holder_name", "licence_number", "identifier", "document")
_RECIPIENT_RE: Final = re.compile(r"(user|client):[A-Za-z0-9_.-]{1,120}")
_PREFIX: Final = "hld"


@dataclass(frozen=True, slots=True)
class ShareTerms:
    fields: tuple[str, ...]
    purpose: str
    recipient: str
    expires_at: datetime
    max_uses: int


def check_share_terms(
    *,
    fields: Sequence[str],
    allowed: Sequence[str],
    purpose: str,
    recipient: str,
    expires_in: timedelta,
    max_uses: int,
    now: datetime,
) -> ShareTerms:
    chosen = tuple(dict.fromkeys(str(f) for f in fields))
    unknown = [f for f in chosen if f not in allowed]
    if not chosen or unknown:
        raise LicenceRequestInvalid(
            f"共享字段须从证照字段中选择：{', '.join(unknown)[:100]}", code="licence.share.fields"
        )
    cleaned = " ".join(str(purpose or "").split())
    if not 0 < len(cleaned) <= MAX_PURPOSE:
        raise LicenceRequestInvalid(
            f"用证事由为 1 至 {MAX_PURPOSE} 个字符", code="licence.share.purpose"
        )
    if not _RECIPIENT_RE.fullmatch(str(recipient)):
        raise LicenceRequestInvalid(
            "被授权方须为 user:<标识> 或 client:<标识>", code="licence.share.recipient"
        )
    if not timedelta(minutes=1) <= expires_in <= timedelta(days=MAX_SHARE_DAYS):
        raise LicenceRequestInvalid(
            f"授权有效期为 1 分钟至 {MAX_SHARE_DAYS} 天", code="licence.share.expiry"
        )
    if not 1 <= max_uses <= MAX_USES:
        raise LicenceRequestInvalid(f"使用次数为 1 至 {MAX_USES} 次", code="licence.share.max_uses")
    return ShareTerms(chosen, cleaned, recipient, now + expires_in, max_uses)


def new_share_token() -> str:
    """``shr_`` + 256 CSPRNG bits (base32, no padding)."""
    return "shr_" + base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()


def share_digest(key: bytes, token: str) -> bytes:
    return hmac_sm3(key, b"share|" + token.strip().encode("utf-8", "replace")[:200])


@dataclass(frozen=True, slots=True)
class HolderToken:
    lookup: bytes  # licences.service_issue.holder_lookup of the holder
    expires_at: int


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def mint_holder_token(key: bytes, lookup: bytes, *, now: datetime, ttl: timedelta) -> str:
    body = f"{_PREFIX}.{_b32(lookup)}.{int((now + ttl).timestamp())}"
    return f"{body}.{_b32(hmac_sm3(key, b'holder-token|' + body.encode()))}"


def read_holder_token(key: bytes, unverified: str, *, now: datetime) -> HolderToken | None:
    """The holder behind a token, or None (malformed, bad MAC, expired)."""
    parts = unverified.strip().split(".") if isinstance(unverified, str) else []
    if len(parts) != 4 or parts[0] != _PREFIX or len(unverified) > 300:
        return None
    body = ".".join(parts[:3])
    expected = _b32(hmac_sm3(key, b"holder-token|" + body.encode()))
    if not constant_time_equal(expected.encode(), parts[3].encode()):
        return None
    try:
        lookup, expires = _unb32(parts[1]), int(parts[2])
    except ValueError:
        return None
    if expires < now.timestamp():
        return None
    return HolderToken(lookup, expires)
