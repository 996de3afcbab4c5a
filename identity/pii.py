"""Personal data at the edges (pure): citizen ID numbers, phone numbers, names, masking, and
the keyed hash and encryption of the citizen ID number.

PIPL minimisation (``specs/identity.md`` §4 item 12, §10): the citizen ID number is never a
``sub``, never in a URL, a log line, a security event or a transparency-log payload. It is stored
twice: SM4-GCM encrypted (bound to its account id) for the consented ``realname_id`` claim and
registry calls, and as ``HMAC-SM3(id_lookup key, number)`` for look-ups; a masked form is for
display.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Final, Literal

from trust.checkchars import validate_citizen_id, validate_uscc
from trust.crypto import hmac_sm3, sm4_gcm_decrypt, sm4_gcm_encrypt
from trust.errors import InvalidInput

__all__ = [
    "LoginKind",
    "classify_login",
    "decrypt_id_number",
    "encrypt_id_number",
    "id_number_lookup_hash",
    "mask_id_number",
    "mask_phone",
    "normalise_name",
    "normalise_phone",
    "normalise_username",
    "validate_id_number",
    "validate_uscc_code",
]

LoginKind = Literal["phone", "citizen_id", "username"]
_PHONE_RE: Final = re.compile(r"1[3-9][0-9]{9}")
_USERNAME_RE: Final = re.compile(r"[a-z][a-z0-9._-]{3,31}")
_ID_AAD: Final = b"ywtb-trust/identity/id-number/v1|"


def validate_id_number(raw: str, *, today: date | None = None) -> str:
    """GB 11643-1999 at the edge: shape, birth date, check character (``citizen_id.*`` codes)."""
    if not isinstance(raw, str):
        raise InvalidInput("公民身份号码应为字符串", code="citizen_id.malformed")
    return validate_citizen_id(raw, today=today)


def validate_uscc_code(raw: str) -> str:
    """GB 32100-2015 at the edge (``uscc.*`` codes)."""
    if not isinstance(raw, str):
        raise InvalidInput("统一社会信用代码应为字符串", code="uscc.malformed")
    return validate_uscc(raw)


def normalise_phone(raw: str) -> str:
    """Mainland mobile numbers: 11 digits starting 1[3-9]; ``+86``/``86`` prefix and spaces or
    hyphens are dropped."""
    digits = re.sub(r"[\s-]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _PHONE_RE.fullmatch(digits):
        raise InvalidInput("手机号码格式不正确", code="identity.bad_phone")
    return digits


def normalise_name(raw: str) -> str:
    """NFC, surrounding blanks removed, middle dot unified (少数民族姓名用 ·), 1-50 characters."""
    name = unicodedata.normalize("NFC", raw or "").strip()
    name = name.replace("•", "·").replace("．", "·").replace("・", "·")
    if not (1 <= len(name) <= 50) or not name.isprintable() or any(c in "<>\"'&" for c in name):
        raise InvalidInput("姓名或名称格式不正确", code="identity.bad_name")
    return name


def normalise_username(raw: str) -> str:
    name = (raw or "").strip().lower()
    if not _USERNAME_RE.fullmatch(name):
        raise InvalidInput(
            "用户名应为 4-32 位小写字母、数字或 ._-，以字母开头", code="identity.bad_username"
        )
    return name


def classify_login(raw: str) -> tuple[LoginKind, str]:
    """What a login string is: phone number, citizen ID number (normalised, check character
    valid) or username. Never echoes the input in an error."""
    text = (raw or "").strip()
    try:
        return "phone", normalise_phone(text)
    except InvalidInput:
        pass
    if len(text) == 18 and text[:17].isdigit():
        return "citizen_id", validate_id_number(text)
    return "username", normalise_username(text)


def id_number_lookup_hash(key: bytes, number: str) -> bytes:
    return hmac_sm3(key, number.encode("ascii"))


def encrypt_id_number(key: bytes, number: str, *, account_id: str) -> bytes:
    return sm4_gcm_encrypt(key, number.encode("ascii"), aad=_ID_AAD + account_id.encode())


def decrypt_id_number(key: bytes, blob: bytes, *, account_id: str) -> str:
    return sm4_gcm_decrypt(key, blob, aad=_ID_AAD + account_id.encode()).decode("ascii")


def mask_id_number(number: str) -> str:
    """First 3 and last 2 characters: ``110*************2X``."""
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]
