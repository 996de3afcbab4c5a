"""Holder use and third parties (elicence spec §6, §9.6), pure rules:

* **share grants** (持证人用证 / 委托授权用证): which fields, purpose (事由) ≤ 200 characters,
  expiry ≤ 7 days, maximum uses ≥ 1, one named recipient (``user:…`` / ``client:…``); the
  share token is 256 bits from a CSPRNG and stored only as HMAC-SM3;
* **the holder** (``Holder``): whose licences a logged-in natural person may see and share —
  their own (by their verified citizen ID number) and those of the organisations they act for
  (by the verified credit code; an agent only with the scope ``licence:view``, "查看与出示电子
  证照", which also covers sharing, i.e. presenting). Built at the edge from
  ``trust.web.person.NaturalPerson`` (``licences.service_share.holder_for``); there is no
  separate holder credential any more.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from licences.catalogue import LicenceTypeSpec
from licences.service_errors import LicenceRequestInvalid
from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "AGENT_VIEW_SCOPE",
    "MAX_SHARE_DAYS",
    "SHARE_STANDARD_LABELS",
    "Holder",
    "HolderScope",
    "ShareTerms",
    "check_share_terms",
    "new_share_token",
    "share_digest",
    "share_labels",
]

MAX_SHARE_DAYS: Final = 7
MAX_PURPOSE: Final = 200
MAX_USES: Final = 100
#: Fields a grant may disclose besides the type's face fields, with their labels.
SHARE_STANDARD_LABELS: Final = {
    "holder_name": "持证主体名称（完整）",
    "licence_number": "证照编号",
    "identifier": "电子证照标识",
    "document": "盖章的电子证照文件（PDF）",
}


def share_labels(spec: LicenceTypeSpec) -> dict[str, str]:
    """Every field a grant of this type may disclose, in display order, with its label."""
    return {**SHARE_STANDARD_LABELS, **{f.name: f.label for f in spec.fields}}


_RECIPIENT_RE: Final = re.compile(r"(user|client):[A-Za-z0-9_.-]{1,120}")


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


#: The agent scope (identity's vocabulary) that lets an agent see and present a company's
#: licences.
AGENT_VIEW_SCOPE: Final = "licence:view"


@dataclass(frozen=True, slots=True)
class HolderScope:
    """One holder code the person may act as: ``lookup`` is its keyed digest
    (``licences.service_issue.holder_lookup``), ``label`` what the page shows."""

    lookup: bytes
    label: str


@dataclass(frozen=True, slots=True)
class Holder:
    """A logged-in person as a licence holder: ``actor`` for logs (``person:<id>``), and every
    holder code they may act as."""

    actor: str
    scopes: tuple[HolderScope, ...]

    @property
    def lookups(self) -> list[bytes]:
        return [s.lookup for s in self.scopes]

    def scope_of(self, lookup: bytes) -> HolderScope | None:
        """The scope holding ``lookup`` (compared in constant time, every scope compared)."""
        found: HolderScope | None = None
        for scope in self.scopes:
            if constant_time_equal(scope.lookup, lookup) and found is None:
                found = scope
        return found
