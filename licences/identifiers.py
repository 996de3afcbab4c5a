"""GB/T 36904-2018 electronic licence identifier (电子证照标识), elicence spec §2.

``1.2.156.3005.2.<证照类型代码 21>.<颁发机构代码 18>.<流水号>.<版本号 3>.<校验位>``

- 证照类型代码: the 18-character USCC of the defining authority plus a 3-digit sequence;
- 颁发机构代码: the 18-character USCC of the issuer (one local variant uses a 6-digit GB/T 2260
  region code; accepted only with ``allow_region_issuer=True``, spec §2.1 [impl]);
- 流水号: ``[0-9A-Z]+``; ours are 20 CSPRNG characters (≈103 bits, spec §2.5);
- 版本号: ``001`` at first issue, incremented on every change;
- 校验位: ISO/IEC 7064 (GB/T 17710) MOD 37,36 over the four middle segments concatenated
  without dots and without the root (spec §2.1, §2.2).

The identifier is a name, not a secret: never accept it alone as a lookup credential (§2.5).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final

from licences.errors import IdentifierInvalid
from trust.checkchars import iso7064_mod37_36_check_char, validate_uscc
from trust.errors import InvalidInput

__all__ = [
    "IDENTIFIER_ROOT",
    "MAX_IDENTIFIER_LENGTH",
    "SERIAL_ALPHABET",
    "SERIAL_LENGTH",
    "LicenceIdentifier",
    "build_identifier",
    "identifier_check_char",
    "new_serial",
    "next_version",
    "parse_identifier",
]

#: 电子证照根代码 (spec §2.1).
IDENTIFIER_ROOT: Final = "1.2.156.3005.2"
#: GB/T 36903 CertificateIdentifier is at most 128 characters (spec §3).
MAX_IDENTIFIER_LENGTH: Final = 128
SERIAL_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_LENGTH: Final = 20
_MAX_VERSION: Final = 999

_TYPE_RE: Final = re.compile(r"[0-9A-Z]{18}[0-9]{3}")
_ISSUER_RE: Final = re.compile(r"[0-9A-Z]{18}")
_REGION_ISSUER_RE: Final = re.compile(r"[0-9]{6}")
_SERIAL_RE: Final = re.compile(r"[0-9A-Z]+")
_VERSION_RE: Final = re.compile(r"[0-9]{3}")
_CHECK_RE: Final = re.compile(r"[0-9A-Z]")


def _malformed(detail: str) -> IdentifierInvalid:
    return IdentifierInvalid(detail, code="licence.identifier.malformed")


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """A GB/T 36904 identifier whose segment shapes and check character have been verified."""

    type_code: str  # 证照类型代码, 21 characters
    issuer_code: str  # 证照颁发机构代码, 18 (or, local variant, 6) characters
    serial: str  # 流水号
    version: int  # 版本号 1…999, written with three digits
    check_char: str  # 校验位

    @property
    def version_text(self) -> str:
        return f"{self.version:03d}"

    @property
    def text(self) -> str:
        return ".".join(
            (
                IDENTIFIER_ROOT,
                self.type_code,
                self.issuer_code,
                self.serial,
                self.version_text,
                self.check_char,
            )
        )

    def __str__(self) -> str:
        return self.text


def identifier_check_char(type_code: str, issuer_code: str, serial: str, version: str) -> str:
    """Spec §2.1: MOD 37,36 over type ‖ issuer ‖ serial ‖ version (no dots, no root)."""
    try:
        return iso7064_mod37_36_check_char(type_code + issuer_code + serial + version)
    except InvalidInput:
        raise _malformed("identifier segments contain characters outside 0-9A-Z") from None


def _check_segments(
    type_code: str, issuer_code: str, serial: str, version: str, *, allow_region_issuer: bool
) -> None:
    # Spec §2.5: "Validate segment shapes (root literal, 21/18/3-char segments, [0-9A-Z] only)".
    if not _TYPE_RE.fullmatch(type_code):
        raise _malformed("证照类型代码 must be 18 characters [0-9A-Z] and 3 digits")
    region_ok = allow_region_issuer and _REGION_ISSUER_RE.fullmatch(issuer_code)
    if not (_ISSUER_RE.fullmatch(issuer_code) or region_ok):
        raise _malformed("证照颁发机构代码 must be 18 characters [0-9A-Z]")
    if not _SERIAL_RE.fullmatch(serial):
        raise _malformed("流水号 must be one or more characters [0-9A-Z]")
    if not _VERSION_RE.fullmatch(version) or version == "000":
        raise _malformed("版本号 must be three digits from 001")


def parse_identifier(text: str, *, allow_region_issuer: bool = False) -> LicenceIdentifier:
    """Parse and verify an identifier: shapes first, then the check character.

    No normalisation: identifiers are machine-handled, and lower case or spaces are refused.
    Raises ``IdentifierInvalid`` (codes ``licence.identifier.malformed`` /
    ``licence.identifier.bad_check_char``).
    """
    if not isinstance(text, str) or len(text) > MAX_IDENTIFIER_LENGTH:
        raise _malformed(f"identifier must be a string of at most {MAX_IDENTIFIER_LENGTH} chars")
    prefix = IDENTIFIER_ROOT + "."
    if not text.startswith(prefix):
        raise _malformed(f"identifier must start with the root {IDENTIFIER_ROOT}")
    parts = text[len(prefix) :].split(".")
    if len(parts) != 5:
        raise _malformed("identifier must have five segments after the root")
    type_code, issuer_code, serial, version, check = parts
    _check_segments(
        type_code, issuer_code, serial, version, allow_region_issuer=allow_region_issuer
    )
    if not _CHECK_RE.fullmatch(check):
        raise _malformed("校验位 must be one character [0-9A-Z]")
    expected = identifier_check_char(type_code, issuer_code, serial, version)
    # Spec §2.2 validation; the check character is public, so a plain comparison is fine.
    if check != expected:
        raise IdentifierInvalid(
            "identifier check character does not match (ISO 7064 MOD 37,36)",
            code="licence.identifier.bad_check_char",
        )
    return LicenceIdentifier(type_code, issuer_code, serial, int(version), check)


def new_serial() -> str:
    """Spec §2.5: 20 characters from a CSPRNG over [0-9A-Z] (log2(36^20) ≈ 103.4 bits)."""
    return "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(SERIAL_LENGTH))


def build_identifier(
    type_code: str, issuer_code: str, *, serial: str | None = None, version: int = 1
) -> LicenceIdentifier:
    """A new identifier for issuer ``issuer_code`` (a valid USCC) and licence type ``type_code``
    (a valid defining-authority USCC + 3 digits). ``serial`` defaults to ``new_serial()``."""
    if not isinstance(type_code, str) or not _TYPE_RE.fullmatch(type_code):
        raise _malformed("证照类型代码 must be 18 characters [0-9A-Z] and 3 digits")
    for code in (type_code[:18], issuer_code):
        try:
            # GB 32100 check only: early pilot codes fail the inner GB 11714 check (§5.1).
            validate_uscc(code, check_org_code=False)
        except InvalidInput as exc:
            raise IdentifierInvalid(
                f"{code!r} is not a unified social credit code: {exc.detail}",
                code="licence.identifier.bad_uscc",
            ) from None
    if serial is None:
        serial = new_serial()
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
        raise _malformed("版本号 must be 1…999")
    version_text = f"{version:03d}"
    _check_segments(type_code, issuer_code, serial, version_text, allow_region_issuer=False)
    check = identifier_check_char(type_code, issuer_code, serial, version_text)
    built = LicenceIdentifier(type_code, issuer_code, serial, version, check)
    if len(built.text) > MAX_IDENTIFIER_LENGTH:
        raise _malformed(f"identifier would exceed {MAX_IDENTIFIER_LENGTH} characters")
    return built


def next_version(
    identifier: LicenceIdentifier | str, *, allow_region_issuer: bool = False
) -> LicenceIdentifier:
    """The identifier of the next version (same type, issuer and serial; 版本号 + 1).

    The input is re-parsed, so a hand-built ``LicenceIdentifier`` is checked as well."""
    text = identifier.text if isinstance(identifier, LicenceIdentifier) else identifier
    current = parse_identifier(text, allow_region_issuer=allow_region_issuer)
    if current.version >= _MAX_VERSION:
        raise IdentifierInvalid(
            "版本号 999 is the last version", code="licence.identifier.version_exhausted"
        )
    version = f"{current.version + 1:03d}"
    check = identifier_check_char(current.type_code, current.issuer_code, current.serial, version)
    return LicenceIdentifier(
        current.type_code, current.issuer_code, current.serial, current.version + 1, check
    )
