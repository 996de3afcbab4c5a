"""Check characters of the national codes (pure functions, no I/O).

- GB 11643-1999 citizen identity number (ISO 7064 MOD 11-2).
- GB 32100-2015 unified social credit code, with its embedded GB 11714 organisation code.
- ISO/IEC 7064 (GB/T 17710) MOD 37,36 hybrid system, used by GB/T 36904 licence identifiers.

Validation functions raise ``InvalidInput`` with a stable code; ``*_check_char`` functions compute.
"""

from __future__ import annotations

import re
from datetime import date

from trust.errors import InvalidInput

__all__ = [
    "USCC_ALPHABET",
    "citizen_id_check_char",
    "iso7064_mod37_36_check_char",
    "iso7064_mod37_36_is_valid",
    "normalise_citizen_id",
    "org_code_check_char",
    "uscc_check_char",
    "validate_citizen_id",
    "validate_uscc",
]

# GB 32100-2015 §4: 31 characters, no I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ISO7064_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_USCC_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-Z]{9}[0-9A-HJ-NPQRTUWXY]")
_CITIZEN_RE = re.compile(r"[1-9][0-9]{16}[0-9X]")


def citizen_id_check_char(first17: str) -> str:
    """GB 11643-1999 §7: weights 2^(18-i) mod 11, check = (12 - S mod 11) mod 11, 10 -> X."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidInput("公民身份号码前17位必须是数字", code="citizen_id.malformed")
    s = sum(int(c) * w for c, w in zip(first17, _CITIZEN_WEIGHTS, strict=True))
    value = (12 - s % 11) % 11
    return "X" if value == 10 else str(value)


def normalise_citizen_id(raw: str) -> str:
    return raw.strip().upper()


def validate_citizen_id(raw: str, *, today: date | None = None) -> str:
    """Return the normalised 18-character number or raise ``InvalidInput``.

    Checks the shape, a real birth date not in the future, and the check character.
    """
    number = normalise_citizen_id(raw)
    if not _CITIZEN_RE.fullmatch(number):
        raise InvalidInput("公民身份号码应为18位（末位可为X）", code="citizen_id.malformed")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            "公民身份号码中的出生日期无效", code="citizen_id.bad_birth_date"
        ) from None
    if born.year < 1880 or (today is not None and born > today):
        raise InvalidInput("公民身份号码中的出生日期无效", code="citizen_id.bad_birth_date")
    if citizen_id_check_char(number[:17]) != number[17]:
        raise InvalidInput("公民身份号码校验位不正确", code="citizen_id.bad_check_char")
    return number


def org_code_check_char(first8: str) -> str:
    """GB 11714-1997 organisation code check (positions 9-16 of a USCC): digits 0-9, A=10..Z=35."""
    if len(first8) != 8:
        raise InvalidInput("组织机构代码本体应为8位", code="org_code.malformed")
    values = [_ISO7064_ALPHABET.index(c) for c in first8]
    c = 11 - sum(v * w for v, w in zip(values, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 §5: weights 3^(i-1) mod 31, C18 = (31 - S mod 31) mod 31."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise InvalidInput("统一社会信用代码含有非法字符", code="uscc.malformed")
    s = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - s % 31) % 31]


def validate_uscc(raw: str, *, check_org_code: bool = True) -> str:
    """Return the normalised 18-character code or raise ``InvalidInput``.

    ``check_org_code`` also checks the GB 11714 character at position 17; early pilot codes fail
    it, so authoritative imports may turn it off (elicence spec §5.1 pitfall).
    """
    code = raw.strip().upper()
    if not _USCC_RE.fullmatch(code):
        raise InvalidInput("统一社会信用代码应为18位，且不含I、O、S、V、Z", code="uscc.malformed")
    if uscc_check_char(code[:17]) != code[17]:
        raise InvalidInput("统一社会信用代码校验位不正确", code="uscc.bad_check_char")
    if check_org_code:
        org = code[8:17]
        if any(c not in _ISO7064_ALPHABET for c in org) or org_code_check_char(org[:8]) != org[8]:
            raise InvalidInput(
                "统一社会信用代码中的组织机构代码校验位不正确", code="uscc.bad_org_code_check"
            )
    return code


def _mod37_36_run(chars: str) -> int:
    p = 36
    for ch in chars:
        a = _ISO7064_ALPHABET.find(ch)
        if a < 0:
            raise InvalidInput(f"字符 {ch!r} 不在 0-9A-Z 中", code="iso7064.bad_char")
        s = (p + a) % 36 or 36
        p = (2 * s) % 37
    return p


def iso7064_mod37_36_check_char(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 hybrid system (GB/T 17710): c = (37 - P) mod 36."""
    return _ISO7064_ALPHABET[(37 - _mod37_36_run(data)) % 36]


def iso7064_mod37_36_is_valid(data_with_check: str) -> bool:
    if len(data_with_check) < 2:
        return False
    try:
        return iso7064_mod37_36_check_char(data_with_check[:-1]) == data_with_check[-1]
    except InvalidInput:
        return False
