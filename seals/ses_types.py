"""The decoded forms of SESeal and SES_Signature (v1, v4, v5) as frozen values.

Field meanings follow eseal spec §3 (GM/T 0031-2014 [text]; GB/T 38540-2020 and GM/T 0031-2025
[recon]). Every value keeps the exact bytes it was read from (``raw``) and the exact message its
signature covers (``signed_bytes`` / ``tbs_raw``, §3.5). Decoders are in ``seals.ses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

__all__ = [
    "CertDigest",
    "ExtData",
    "SESSignature",
    "SESeal",
    "SealPicture",
    "SealProperty",
    "SealVersion",
    "SignedValueKind",
]


class SealVersion(IntEnum):
    V1 = 1  # GM/T 0031-2014
    V4 = 4  # GB/T 38540-2020
    V5 = 5  # GM/T 0031-2025


class SignedValueKind(StrEnum):
    """What a ``SignedValue.dat`` holds (eseal spec §3.4 last paragraph)."""

    SES = "ses_signature"
    CMS = "gbt35275_signed_data"
    PLAIN_SM2 = "plain_sm2_signature"  # non-standard: bare SEQUENCE { r, s }


@dataclass(frozen=True, slots=True)
class ExtData:
    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True, slots=True)
class CertDigest:
    algorithm: str  # CertDigestObj.type (PrintableString name)
    value: bytes


@dataclass(frozen=True, slots=True)
class SealPicture:
    type: str  # as found; compare case-insensitively
    data: bytes
    width_mm: int
    height_mm: int


@dataclass(frozen=True, slots=True)
class SealProperty:
    type: int
    name: str
    cert_list_type: int  # 1 certificates, 2 digests; v1 has no field and is always 1
    certs: tuple[bytes, ...]  # DER certificates (certListType 1)
    cert_digests: tuple[CertDigest, ...]  # certListType 2
    create_date: datetime
    valid_start: datetime
    valid_end: datetime


@dataclass(frozen=True, slots=True)
class SESeal:
    """A decoded electronic seal. ``signed_bytes`` is exactly what the maker signed (§3.5)."""

    version: SealVersion
    header_version: int
    vid: str
    es_id: str
    property: SealProperty
    picture: SealPicture
    extensions: tuple[ExtData, ...]
    maker_cert: bytes
    signature_algorithm: str
    signed_value: bytes
    timestamp: bytes | None  # v5 only: token over ``signed_value``
    raw: bytes
    seal_info_raw: bytes
    signed_bytes: bytes
    findings: tuple[str, ...]
    format_errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SESSignature:
    """A decoded seal signature. ``tbs_raw`` is exactly what the signer signed (§3.5)."""

    version: SealVersion
    tbs_version: int
    seal: SESeal
    time_info: datetime | None  # None: unreadable (v1 text forms vary)
    data_hash: bytes
    property_info: str
    signer_cert: bytes
    signature_algorithm: str
    signature: bytes
    timestamp: bytes | None  # token over ``signature``
    extensions: tuple[ExtData, ...]
    raw: bytes
    tbs_raw: bytes
    findings: tuple[str, ...]
    format_errors: tuple[str, ...]
